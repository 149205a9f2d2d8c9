"""Intake's service layer: staff commands through the intake decider, and reading a record."""

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.commands import Decision
from carepath.chassis.errors import NotFound
from carepath.chassis.http import RequestContext
from carepath.chassis.patient_keys import PatientKeys
from carepath.chassis.runtime import ServiceRuntime
from carepath.chassis.service import DomainService
from carepath.contracts.intake import ErasePatientData, ErasureRecorded
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

    async def erase(
        self, patient_id: UUID, request: ErasePatientData, context: RequestContext
    ) -> ErasureRecorded:
        """Destroy the patient's data key and record the erasure, in one transaction; then make
        sure no copy of the key is left in the database's files."""
        keys = self.runtime.keys
        assert isinstance(keys, PatientKeys), "intake owns the key store"

        async def destroy_key(session: AsyncSession, _state: IntakeState) -> None:
            await keys.erase(patient_id, session)

        now = self.runtime.clock.now()
        decision = await self.command(
            patient_id, IntakeCommand(request=request, now=now), context, also=destroy_key
        )
        await keys.purge_erased()
        erasure = decision.first(ErasureRecorded)
        assert erasure is not None
        return erasure

    async def data_key(self, patient_id: UUID) -> bytes:
        """The patient's data key, for a service or entitled subscriber (the key API)."""
        keys = self.runtime.keys
        assert isinstance(keys, PatientKeys), "intake owns the key store"
        return await keys.data_key(patient_id, create=False)

    async def record(self, patient_id: UUID) -> tuple[IntakeState, int]:
        """A patient's intake record and its version; NotFound for an unknown patient."""
        state, version = await self.state_of(patient_id)
        if state.referral is None:
            raise NotFound(f"no patient {patient_id}")
        return state, version
