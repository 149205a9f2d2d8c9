"""Events into read models: one small handler per event type. Pure data in, rows out."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from carepath.contracts import CloudEvent, DomainEvent, registry
from carepath.contracts.access import AlertAcknowledged, RecordAccessed
from carepath.contracts.eligibility import (
    EligibilityDetermined,
    EligibilityOutcome,
    EligibilityReviewed,
)
from carepath.contracts.intake import (
    AssessmentScored,
    IntakeCompleted,
    PatientReferred,
    SuicidalityFlagRaised,
)
from carepath.contracts.integration import (
    BoosterIndicated,
    CourseCompleted,
    CourseDiscontinued,
    IntegrationSessionOverdue,
    OutcomeMeasured,
    OutcomeSuicidalityFlagRaised,
)
from carepath.contracts.session import (
    AdverseEventReported,
    CourseOpened,
    DoseAdministered,
    DosingDeferred,
    DosingSessionScheduled,
    PatientCheckedIn,
    PatientDischarged,
    PreDoseSuicidalityFlagRaised,
    VitalsAlertRaised,
    VitalsRecorded,
)
from carepath.dashboard.models import (
    AlertView,
    DosingView,
    OutcomeCriteriaView,
    OutcomePoint,
    PatientView,
    TimelineEntry,
)
from carepath.dashboard.summaries import summary_of

M = TypeVar("M", bound=SQLModel)
Handler = Callable[[AsyncSession, Any, CloudEvent], Awaitable[None]]
HANDLERS: dict[type[DomainEvent], Handler] = {}


def handles(*types: type[DomainEvent]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in types:
            HANDLERS[event_type] = handler
        return handler

    return register


async def project(session: AsyncSession, envelope: CloudEvent) -> None:
    """Apply one event to the read models (the dashboard consumers' inbox effect)."""
    event = registry.parse(envelope.type, envelope.data)
    if handler := HANDLERS.get(type(event)):
        # One flush per batch, at commit, instead of one before every lookup; rows created in
        # this batch are found through the batch's own cache (`_row`, `_dosing`).
        with session.no_autoflush:
            await handler(session, event, envelope)
    if not isinstance(event, RecordAccessed | AlertAcknowledged):
        session.add(
            TimelineEntry(
                event_id=envelope.id,
                patient_id=UUID(envelope.subject),
                at=event.clinical_time(envelope.time),
                recorded_at=envelope.time,
                sequence=envelope.sequence,
                context=event.context,
                type=event.name(),
                summary=summary_of(event),
            )
        )


def _created(session: AsyncSession) -> dict[tuple[type[SQLModel], UUID | str], Any]:
    """Rows added in this transaction and not flushed yet (the identity map does not hold them)."""
    created: dict[tuple[type[SQLModel], UUID | str], Any] = session.info.setdefault("created", {})
    return created


async def _find(session: AsyncSession, model: type[M], key: UUID | str) -> M | None:
    created = _created(session).get((model, key))
    return created if created is not None else await session.get(model, key)


def _add(session: AsyncSession, row: M, key: UUID | str) -> M:
    session.add(row)
    _created(session)[(type(row), key)] = row
    return row


async def _row(session: AsyncSession, model: type[M], key: UUID, **defaults: Any) -> M:
    row = await _find(session, model, key)
    if row is None:
        row = _add(session, model(**{_key_of(model): key, **defaults}), key)
    return row


def _key_of(model: type[SQLModel]) -> str:
    keys: list[str] = [column.name for column in model.__table__.primary_key]  # type: ignore[attr-defined]
    return keys[0]


async def _patient(session: AsyncSession, patient_id: UUID) -> PatientView:
    return await _row(session, PatientView, patient_id)


@handles(PatientReferred)
async def _referred(session: AsyncSession, event: PatientReferred, envelope: CloudEvent) -> None:
    patient = await _patient(session, event.patient_id)
    patient.referred, patient.referral_reason, patient.referred_at = (
        True,
        event.referral_reason.value,
        event.clinical_time(envelope.time),
    )


@handles(IntakeCompleted)
async def _intake_completed(
    session: AsyncSession, event: IntakeCompleted, _envelope: CloudEvent
) -> None:
    patient = await _patient(session, event.patient_id)
    patient.intake_complete, patient.baseline_phq9 = True, event.phq9_total
    patient.referral_reason = patient.referral_reason or event.referral_reason.value


@handles(AssessmentScored)
async def _assessment(session: AsyncSession, event: AssessmentScored, envelope: CloudEvent) -> None:
    session.add(
        OutcomePoint(
            event_id=envelope.id,
            patient_id=event.patient_id,
            instrument=event.instrument.value,
            total=event.total,
            timepoint="baseline",
            measured_at=event.administered_at,
        )
    )


@handles(OutcomeMeasured)
async def _outcome(session: AsyncSession, event: OutcomeMeasured, envelope: CloudEvent) -> None:
    session.add(
        OutcomePoint(
            event_id=envelope.id,
            patient_id=event.patient_id,
            instrument=event.instrument.value,
            total=event.total,
            timepoint=event.timepoint.value,
            measured_at=event.measured_at,
        )
    )
    await _criteria(session, event.instrument.value, event, event.measured_at)


async def _criteria(
    session: AsyncSession,
    instrument: str,
    event: OutcomeMeasured | CourseCompleted,
    judged_at: datetime,
) -> None:
    # The latest judgement wins in either reading order (live or rebuild): same rows.
    row = await _find(session, OutcomeCriteriaView, instrument)
    if row is not None and row.judged_at >= judged_at:
        return
    if row is None:
        row = _add(
            session, OutcomeCriteriaView(instrument=instrument, judged_at=judged_at), instrument
        )
    criteria = event.criteria
    row.judged_at, row.policy_version = judged_at, event.policy_version
    row.remission_below = criteria.remission_below
    row.response_reduction_percent = criteria.response_reduction_percent
    row.response_reduction_points = criteria.response_reduction_points
    row.substantial_reduction_percent = criteria.substantial_reduction_percent


@handles(EligibilityDetermined)
async def _determined(
    session: AsyncSession, event: EligibilityDetermined, _envelope: CloudEvent
) -> None:
    patient = await _patient(session, event.patient_id)
    patient.screening_outcome = event.outcome.value
    patient.cleared = patient.cleared or event.outcome is EligibilityOutcome.ELIGIBLE


@handles(EligibilityReviewed)
async def _reviewed(
    session: AsyncSession, event: EligibilityReviewed, _envelope: CloudEvent
) -> None:
    patient = await _patient(session, event.patient_id)
    patient.review_decision = event.decision.value
    patient.cleared = patient.cleared or event.decision.value == "approve"


@handles(CourseOpened)
async def _course_opened(session: AsyncSession, event: CourseOpened, _envelope: CloudEvent) -> None:
    patient = await _patient(session, event.patient_id)
    patient.course_opened = patient.cleared = True


@handles(DosingSessionScheduled)
async def _scheduled(
    session: AsyncSession, event: DosingSessionScheduled, _envelope: CloudEvent
) -> None:
    row = DosingView(
        session_id=event.session_id,
        patient_id=event.patient_id,
        session_number=event.session_number,
        scheduled_for=event.scheduled_for,
    )
    _add(session, row, event.session_id)


async def _dosing(session: AsyncSession, session_id: UUID) -> DosingView | None:
    return await _find(session, DosingView, session_id)


@handles(PatientCheckedIn, DosingDeferred, DoseAdministered, VitalsRecorded, PatientDischarged)
async def _dosing_step(session: AsyncSession, event: Any, _envelope: CloudEvent) -> None:
    row = await _dosing(session, event.session_id)
    if row is None:
        return
    match event:
        case PatientCheckedIn():
            row.status, row.last_bp = "checked_in", f"{event.systolic}/{event.diastolic}"
        case DosingDeferred():
            row.status = "deferred"
        case DoseAdministered():
            row.status, row.dosed_at = "monitoring", event.administered_at
            infusion = timedelta(minutes=event.infusion_minutes or 0)
            row.administration_ended_at = event.administered_at + infusion
            (await _patient(session, event.patient_id)).doses_given += 1
        case VitalsRecorded():
            row.last_bp = f"{event.systolic}/{event.diastolic}"
        case PatientDischarged():
            row.status, row.discharged_at = "discharged", event.discharged_at
            row.min_observation_minutes = event.min_observation_minutes


ALERT_KINDS = {
    "SuicidalityFlagRaised": "suicidality",  # at intake, before a dose, on an outcome PHQ-9
    "VitalsAlertRaised": "vitals",
    "AdverseEventReported": "adverse_event",
    "IntegrationSessionOverdue": "integration_overdue",
    "BoosterIndicated": "booster_indicated",
}


@handles(
    SuicidalityFlagRaised,
    PreDoseSuicidalityFlagRaised,
    OutcomeSuicidalityFlagRaised,
    VitalsAlertRaised,
    AdverseEventReported,
    IntegrationSessionOverdue,
    BoosterIndicated,
)
async def _alert(session: AsyncSession, event: Any, envelope: CloudEvent) -> None:
    kind = ALERT_KINDS[event.name()]
    alert = await _row(session, AlertView, envelope.id, patient_id=event.patient_id)
    alert.patient_id, alert.kind, alert.detail = event.patient_id, kind, summary_of(event)
    alert.raised_at = event.clinical_time(envelope.time)


@handles(AlertAcknowledged)
async def _acknowledged(
    session: AsyncSession, event: AlertAcknowledged, _envelope: CloudEvent
) -> None:
    # Upsert: in a rebuild the acknowledgement (access topic) may come before or after the alert.
    alert = await _row(session, AlertView, event.alert_event_id, patient_id=event.patient_id)
    alert.acknowledged_at, alert.acknowledged_by = (
        event.acknowledged_at,
        f"{event.role}:{event.user_id}",
    )


@handles(CourseCompleted)
async def _completed(session: AsyncSession, event: CourseCompleted, _envelope: CloudEvent) -> None:
    patient = await _patient(session, event.patient_id)
    patient.completed, patient.final_total = True, event.final_total
    patient.outcome_instrument = event.instrument.value
    patient.response, patient.remission = event.response, event.remission
    patient.substantial_response = event.substantial_response
    await _criteria(session, event.instrument.value, event, event.completed_at)


@handles(CourseDiscontinued)
async def _discontinued(
    session: AsyncSession, event: CourseDiscontinued, _envelope: CloudEvent
) -> None:
    (await _patient(session, event.patient_id)).discontinued = event.reason.value
