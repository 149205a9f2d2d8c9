"""Eligibility's service layer: staff commands and intake's events, through the decider."""

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.errors import NotFound
from carepath.chassis.runtime import ServiceRuntime
from carepath.chassis.service import DomainService
from carepath.contracts import CloudEvent
from carepath.contracts.eligibility import EligibilityDetermined
from carepath.eligibility.clinic_policy import EligibilityPolicy
from carepath.eligibility.domain import (
    ScreeningCommand,
    ScreeningState,
    screening_decider,
    stream_id,
)
from carepath.eligibility.policy import command_for


class Eligibility(DomainService[EligibilityPolicy, ScreeningState, ScreeningCommand]):
    """Runs screening commands and reads screenings."""

    def __init__(self, runtime: ServiceRuntime, policy: EligibilityPolicy) -> None:
        super().__init__(runtime, policy, screening_decider(policy), stream_id)

    async def on_upstream_event(self, session: AsyncSession, envelope: CloudEvent) -> None:
        """Inbox effect: react to one intake event, in the consumer's transaction."""
        await self.react(session, envelope, command_for)

    async def screening(self, patient_id: UUID) -> tuple[ScreeningState, UUID | None]:
        """A patient's screening, and the event id of its latest automatic determination."""
        history = await self.runtime.store.load(stream_id(patient_id))
        if not history:
            raise NotFound(f"no screening for patient {patient_id}: intake is not complete yet")
        state = self.decider.fold([recorded.event() for recorded in history])
        determination_id = next(  # the latest: a new screening follows new consent
            (
                r.event_id
                for r in reversed(history)
                if r.event_type == EligibilityDetermined.event_type()
            ),
            None,
        )
        return state, determination_id
