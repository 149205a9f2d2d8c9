"""Intake's service layer: staff commands through the intake decider, and reading a record."""

from uuid import UUID

from carepath.chassis.commands import Decision
from carepath.chassis.errors import NotFound
from carepath.chassis.http import RequestContext
from carepath.chassis.runtime import ServiceRuntime
from carepath.chassis.service import DomainService
from carepath.intake.clinic_policy import IntakePolicy
from carepath.intake.domain import IntakeCommand, IntakeState, Request, intake_decider, stream_id


class Intake(DomainService[IntakePolicy, IntakeState, IntakeCommand]):
    """Runs intake commands and reads patients' intake records."""

    def __init__(self, runtime: ServiceRuntime, policy: IntakePolicy) -> None:
        super().__init__(runtime, policy, intake_decider(policy), stream_id)

    async def handle(
        self, patient_id: UUID, request: Request, context: RequestContext
    ) -> Decision[IntakeState]:
        """Run a staff command: the record after it, and what it decided."""
        now = self.runtime.clock.now().astimezone(self.runtime.settings.clinic_zone)
        return await self.command(patient_id, IntakeCommand(request=request, now=now), context)

    async def record(self, patient_id: UUID) -> tuple[IntakeState, int]:
        """A patient's intake record and its version; NotFound for an unknown patient."""
        state, version = await self.state_of(patient_id)
        if state.referral is None:
            raise NotFound(f"no patient {patient_id}")
        return state, version
