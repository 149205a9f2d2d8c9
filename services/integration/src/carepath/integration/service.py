"""Integration's service layer: upstream facts, staff commands, and the overdue sweep."""

import asyncio
import logging
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.chassis.decider import Decider, execute
from carepath.chassis.http import RequestContext
from carepath.chassis.runtime import ServiceRuntime
from carepath.chassis.store import EventMetadata, EventRecord
from carepath.chassis.telemetry import current_traceparent
from carepath.contracts import CloudEvent, actor_attribute, registry
from carepath.contracts.common import Instrument
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
from carepath.integration.policy import NoteBaselines, NoteCourse, reaction_to

log = logging.getLogger(__name__)


class PatientContextRecord(SQLModel, table=True):
    """Upstream facts integration needs: intake baselines and the course plan."""

    __tablename__ = "patient_context"

    patient_id: UUID = Field(primary_key=True)
    baseline_phq9: int | None = None
    baseline_gad7: int | None = None
    baseline_pcl5: int | None = None
    course_id: UUID | None = None
    planned_dosing_sessions: int | None = None

    def context(self) -> PatientContext:
        totals = {
            Instrument.PHQ9: self.baseline_phq9,
            Instrument.GAD7: self.baseline_gad7,
            Instrument.PCL5: self.baseline_pcl5,
        }
        return PatientContext(
            patient_id=self.patient_id,
            baselines={k: v for k, v in totals.items() if v is not None},
            course_id=self.course_id,
            planned_dosing_sessions=self.planned_dosing_sessions,
        )


class Integration:
    """Runs plan commands, keeps upstream facts, and flags overdue integration sessions."""

    def __init__(self, runtime: ServiceRuntime, policy: IntegrationPolicy) -> None:
        self.runtime = runtime
        self.policy = policy
        self.decider: Decider[PlanState, PlanCommand] = plan_decider(policy)

    @property
    def name(self) -> str:
        return self.runtime.settings.service_name

    def _service_metadata(self, correlation_id: str, causation_id: str | None) -> EventMetadata:
        return EventMetadata(
            source=self.runtime.source,
            actor=actor_attribute("service", self.name),
            correlation_id=correlation_id,
            causation_id=causation_id,
            traceparent=current_traceparent(),
        )

    async def on_upstream_event(self, session: AsyncSession, envelope: CloudEvent) -> None:
        """Inbox effect for intake's and session's events, in the consumer's transaction."""
        reaction = reaction_to(registry.parse(envelope.type, envelope.data))
        patient_id = UUID(envelope.subject)
        match reaction:
            case None:
                return
            case NoteBaselines():
                record = await self._context_record(session, patient_id)
                record.baseline_phq9 = reaction.baselines.get(Instrument.PHQ9)
                record.baseline_gad7 = reaction.baselines.get(Instrument.GAD7)
                record.baseline_pcl5 = reaction.baselines.get(Instrument.PCL5)
            case NoteCourse():
                record = await self._context_record(session, patient_id)
                record.course_id, record.planned_dosing_sessions = (
                    reaction.course_id,
                    reaction.planned_dosing_sessions,
                )
            case _:
                await execute(
                    self.runtime.store,
                    self.decider,
                    stream_id(patient_id),
                    reaction,
                    subject=envelope.subject,
                    metadata=self.runtime.reaction_metadata(envelope),
                    session=session,
                )

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
    ) -> PlanState:
        return await self.runtime.handle(
            self.decider,
            stream_id(patient_id),
            command,
            subject=str(patient_id),
            metadata=context.metadata(self.name),
        )

    async def plan(self, patient_id: UUID) -> PlanState:
        history = await self.runtime.store.load(stream_id(patient_id))
        return self.decider.fold([recorded.event() for recorded in history])

    async def flag_overdue_once(self) -> int:
        """Flag every integration session past its due time; returns how many were flagged."""
        async with self.runtime.store.transaction() as session:
            patients = list(
                await session.scalars(
                    select(col(EventRecord.subject))
                    .distinct()
                    .where(col(EventRecord.event_type) == IntegrationSessionDue.event_type())
                )
            )
        flagged = 0
        for subject in patients:
            history = await self.runtime.store.load(stream_id(UUID(subject)))
            before = len(self.decider.fold([recorded.event() for recorded in history]).overdue)
            recorded_at = {
                event.dosing_session_id: recorded.recorded_at
                for recorded in history
                if isinstance(event := recorded.event(), IntegrationSessionDue)
            }
            after = await self.runtime.handle(
                self.decider,
                stream_id(UUID(subject)),
                FlagOverdue(now=self.runtime.clock.now(), recorded_at=recorded_at),
                subject=subject,
                metadata=self._service_metadata(
                    correlation_id=f"overdue-sweep-{subject}", causation_id=None
                ),
            )
            flagged += len(after.overdue) - before
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
