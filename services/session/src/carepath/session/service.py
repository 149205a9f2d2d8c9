"""The session service layer: staff commands and upstream events, through the course decider."""

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.chassis.commands import Decision
from carepath.chassis.errors import NotFound
from carepath.chassis.http import RequestContext
from carepath.chassis.runtime import ServiceRuntime
from carepath.chassis.service import DomainService
from carepath.contracts import CloudEvent
from carepath.session.clinic_policy import SessionPolicy
from carepath.session.domain import (
    CourseCommand,
    CourseState,
    StaffCommand,
    course_decider,
    stream_id,
)
from carepath.session.policy import command_for


class DosingSessionIndex(SQLModel, table=True):
    """Which patient a dosing session belongs to, for the `/dosing-sessions/{id}` routes."""

    __tablename__ = "dosing_session_index"

    session_id: UUID = Field(primary_key=True)
    patient_id: UUID = Field(index=True)


class Sessions(DomainService[SessionPolicy, CourseState, CourseCommand]):
    """Runs course commands and reads courses."""

    def __init__(self, runtime: ServiceRuntime, policy: SessionPolicy) -> None:
        super().__init__(runtime, policy, course_decider(policy), stream_id)

    async def on_upstream_event(self, session: AsyncSession, envelope: CloudEvent) -> None:
        """Inbox effect for eligibility's, intake's and integration's events."""
        await self.react(session, envelope, command_for)

    async def staff(
        self,
        patient_id: UUID,
        command: StaffCommand,
        context: RequestContext,
        *,
        new_session: bool = False,
    ) -> Decision[CourseState]:
        """Run a staff command; a new dosing session is indexed in the same transaction."""

        async def index_new_session(session: AsyncSession, _state: CourseState) -> None:
            if new_session and command.new_id is not None:
                session.add(DosingSessionIndex(session_id=command.new_id, patient_id=patient_id))

        return await self.command(patient_id, command, context, also=index_new_session)

    async def course(self, patient_id: UUID) -> CourseState:
        state, _version = await self.state_of(patient_id)
        if state.course is None:
            raise NotFound(f"no course for patient {patient_id}")
        return state

    async def patient_of(self, session_id: UUID) -> UUID:
        async with self.runtime.store.transaction() as session:
            patient_id = await session.scalar(
                select(col(DosingSessionIndex.patient_id)).where(
                    col(DosingSessionIndex.session_id) == session_id
                )
            )
        if patient_id is None:
            raise NotFound(f"no dosing session {session_id}")
        return UUID(str(patient_id))
