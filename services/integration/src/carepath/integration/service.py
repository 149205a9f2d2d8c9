"""Integration's service layer: upstream facts, staff commands, and the overdue sweep."""

import asyncio
import logging
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from carepath.chassis.commands import Decision
from carepath.chassis.http import RequestContext
from carepath.chassis.runtime import ServiceRuntime
from carepath.chassis.service import DomainService
from carepath.contracts import CloudEvent, registry
from carepath.contracts.common import Instrument
from carepath.contracts.intake import ReferralReason
from carepath.contracts.integration import IntegrationSessionDue
from carepath.integration.clinic_policy import IntegrationPolicy
from carepath.integration.domain import (
    FlagOverdue,
    PatientContext,
    PlanCommand,
    PlanState,
    StaffCommand,
    plan_decider,
    stream_id,
)
from carepath.integration.policy import (
    Fact,
    NoteBaselines,
    NoteBooster,
    NoteCourse,
    NoteMaintenance,
    command_for,
    fact_from,
)

log = logging.getLogger(__name__)


class PatientContextRecord(SQLModel, table=True):
    """Upstream facts integration needs: intake baselines and the course plan."""

    __tablename__ = "patient_context"

    patient_id: UUID = Field(primary_key=True)
    baseline_phq9: int | None = None
    baseline_gad7: int | None = None
    baseline_pcl5: int | None = None
    baseline_pain_nrs: int | None = None
    referral_reason: ReferralReason | None = None
    course_id: UUID | None = None
    planned_dosing_sessions: int | None = None
    maintenance_sessions: int | None = None
    boosters: int | None = None

    @property
    def planned_sessions(self) -> int | None:
        """The induction plan, plus the maintenance phase and its boosters once started."""
        if self.planned_dosing_sessions is None:
            return None
        return (
            self.planned_dosing_sessions + (self.maintenance_sessions or 0) + (self.boosters or 0)
        )

    def context(self) -> PatientContext:
        totals = {
            Instrument.PHQ9: self.baseline_phq9,
            Instrument.GAD7: self.baseline_gad7,
            Instrument.PCL5: self.baseline_pcl5,
            Instrument.PAIN_NRS: self.baseline_pain_nrs,
        }
        return PatientContext(
            patient_id=self.patient_id,
            baselines={k: v for k, v in totals.items() if v is not None},
            course_id=self.course_id,
            planned_dosing_sessions=self.planned_sessions,
            referral_reason=self.referral_reason,
        )


class Integration(DomainService[IntegrationPolicy, PlanState, PlanCommand]):
    """Runs plan commands, keeps upstream facts, and flags overdue integration sessions."""

    def __init__(self, runtime: ServiceRuntime, policy: IntegrationPolicy) -> None:
        super().__init__(runtime, policy, plan_decider(policy), stream_id)

    async def on_upstream_event(self, session: AsyncSession, envelope: CloudEvent) -> None:
        """Inbox effect for intake's and session's events, in the consumer's transaction: keep
        the facts they tell, and react through the decider."""
        event = registry.parse(envelope.type, envelope.data)  # a bad payload goes to the DLQ
        if (fact := fact_from(event)) is not None:
            await self._note(session, fact)
        await self.react(session, envelope, command_for, event)

    async def _note(self, session: AsyncSession, fact: Fact) -> None:
        record = await self._context_record(session, fact.patient_id)
        match fact:
            case NoteBaselines():
                record.baseline_phq9 = fact.baselines.get(Instrument.PHQ9)
                record.baseline_gad7 = fact.baselines.get(Instrument.GAD7)
                record.baseline_pcl5 = fact.baselines.get(Instrument.PCL5)
                record.baseline_pain_nrs = fact.baselines.get(Instrument.PAIN_NRS)
                record.referral_reason = fact.referral_reason
            case NoteCourse():
                record.course_id = fact.course_id  # a later course, after new consent, replaces it
                record.planned_dosing_sessions = fact.planned_dosing_sessions
                record.maintenance_sessions = record.boosters = None
            case NoteMaintenance():
                record.maintenance_sessions = fact.planned_sessions
            case NoteBooster():
                record.boosters = fact.boosters

    async def _context_record(
        self, session: AsyncSession, patient_id: UUID
    ) -> PatientContextRecord:
        record = await session.get(PatientContextRecord, patient_id)
        if record is None:
            record = PatientContextRecord(patient_id=patient_id)
            session.add(record)
        return record

    async def context(self, patient_id: UUID) -> PatientContext:
        async with self.runtime.store.transaction() as session:
            record = await session.get(PatientContextRecord, patient_id)
            return record.context() if record else PatientContext(patient_id=patient_id)

    async def staff(
        self, patient_id: UUID, command: StaffCommand, context: RequestContext
    ) -> Decision[PlanState]:
        return await self.command(patient_id, command, context)

    async def plan(self, patient_id: UUID) -> PlanState:
        state, _version = await self.state_of(patient_id)
        return state

    async def flag_overdue_once(self) -> int:
        """Flag every integration session past its due time; returns how many were flagged."""
        due = IntegrationSessionDue.event_type()
        flagged = 0
        for subject in await self.runtime.store.subjects_with(due):
            history = await self.runtime.store.load(stream_id(UUID(subject)))
            events = [recorded.event() for recorded in history]
            recorded_at = {
                event.dosing_session_id: recorded.recorded_at
                for recorded, event in zip(history, events, strict=True)
                if isinstance(event, IntegrationSessionDue)
            }
            sweep = FlagOverdue(now=self.runtime.clock.now(), recorded_at=recorded_at)
            if not self.decider.decide(self.decider.fold(events), sweep):
                continue  # nothing overdue for this patient: no write transaction
            decision = await self.runtime.handle(
                self.decider,
                stream_id(UUID(subject)),
                sweep,
                subject=subject,
                metadata=self.runtime.service_metadata(f"overdue-sweep-{subject}"),
            )
            flagged += len(decision.recorded)
        return flagged

    async def sweep_overdue(self) -> None:
        """Background job: flag overdue integration sessions every `overdue_check_seconds`."""
        while True:
            try:
                await self.flag_overdue_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "overdue sweep failed; next try in %.0fs", self.policy.overdue_check_seconds
                )
            await asyncio.sleep(self.policy.overdue_check_seconds)
