"""Events into read models, a batch at a time: one small handler per event type, on rows in
memory; the batch's rows are loaded in one SELECT per table and written back in one statement
per table (`ReadModels`). Pure data in, rows out."""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.read_models import ReadModels
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
    READ_MODELS,
    AlertView,
    DosingView,
    OutcomeCriteriaView,
    OutcomePoint,
    PatientView,
    TimelineEntry,
)
from carepath.dashboard.summaries import summary_of

Row = dict[str, Any]
Key = UUID | str


def read_models() -> ReadModels:
    """An empty working set of the dashboard's read models."""
    return ReadModels(READ_MODELS, append_only=(OutcomePoint, TimelineEntry))


Handler = Callable[[ReadModels, Any, CloudEvent], None]
HANDLERS: dict[type[DomainEvent], Handler] = {}


def handles(*types: type[DomainEvent]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for event_type in types:
            HANDLERS[event_type] = handler
        return handler

    return register


async def project(session: AsyncSession, envelopes: Sequence[CloudEvent]) -> None:
    """Apply a batch of events to the read models (the dashboard consumers' inbox effect)."""
    events = [(registry.parse(envelope.type, envelope.data), envelope) for envelope in envelopes]
    models = read_models()
    await models.load(session, PatientView, _keys(events, _patient_key))
    await models.load(session, DosingView, _keys(events, _dosing_key))
    await models.load(session, AlertView, _keys(events, _alert_key))
    if any(isinstance(event, OutcomeMeasured | CourseCompleted) for event, _ in events):
        await models.load_all(session, OutcomeCriteriaView)  # the instruments' reference lines
    for event, envelope in events:
        if handler := HANDLERS.get(type(event)):
            handler(models, event, envelope)
        if not isinstance(event, RecordAccessed | AlertAcknowledged):
            models.append(
                TimelineEntry,
                event_id=envelope.id,
                patient_id=UUID(envelope.subject),
                at=event.clinical_time(envelope.time),
                recorded_at=envelope.time,
                sequence=envelope.streamsequence,
                context=event.context,
                type=event.name(),
                summary=summary_of(event),
            )
    await models.write(session)


def _keys(
    events: list[tuple[DomainEvent, CloudEvent]],
    key_of: Callable[[DomainEvent, CloudEvent], Key | None],
) -> set[Key]:
    return {key for event, envelope in events if (key := key_of(event, envelope)) is not None}


def _patient_key(event: DomainEvent, _envelope: CloudEvent) -> Key | None:
    patient_id: UUID | None = getattr(event, "patient_id", None)
    return patient_id


def _dosing_key(event: DomainEvent, _envelope: CloudEvent) -> Key | None:
    session_id: UUID | None = getattr(event, "session_id", None)
    return session_id


def _alert_key(event: DomainEvent, envelope: CloudEvent) -> Key | None:
    if isinstance(event, AlertAcknowledged):
        return event.alert_event_id
    return envelope.id if event.name() in ALERT_KINDS else None


def _patient(models: ReadModels, patient_id: UUID) -> Row:
    return models.row(PatientView, patient_id)


@handles(PatientReferred)
def _referred(models: ReadModels, event: PatientReferred, envelope: CloudEvent) -> None:
    patient = _patient(models, event.patient_id)
    patient["referred"] = True
    patient["referral_reason"] = event.referral_reason.value
    patient["referred_at"] = event.clinical_time(envelope.time)


@handles(IntakeCompleted)
def _intake_completed(models: ReadModels, event: IntakeCompleted, _envelope: CloudEvent) -> None:
    patient = _patient(models, event.patient_id)
    patient["intake_complete"], patient["baseline_phq9"] = True, event.phq9_total
    patient["referral_reason"] = patient["referral_reason"] or event.referral_reason.value


@handles(AssessmentScored)
def _assessment(models: ReadModels, event: AssessmentScored, envelope: CloudEvent) -> None:
    _point(models, envelope, event, "baseline", event.administered_at)


@handles(OutcomeMeasured)
def _outcome(models: ReadModels, event: OutcomeMeasured, envelope: CloudEvent) -> None:
    _point(models, envelope, event, event.timepoint.value, event.measured_at)
    _criteria(models, event.instrument.value, event, event.measured_at)


def _point(
    models: ReadModels,
    envelope: CloudEvent,
    event: AssessmentScored | OutcomeMeasured,
    timepoint: str,
    measured_at: datetime,
) -> None:
    models.append(
        OutcomePoint,
        event_id=envelope.id,
        patient_id=event.patient_id,
        instrument=event.instrument.value,
        total=event.total,
        timepoint=timepoint,
        measured_at=measured_at,
    )


def _criteria(
    models: ReadModels,
    instrument: str,
    event: OutcomeMeasured | CourseCompleted,
    judged_at: datetime,
) -> None:
    # The latest judgement wins in either reading order (live or rebuild): same rows.
    row = models.find(OutcomeCriteriaView, instrument)
    if row is not None and row["judged_at"] >= judged_at:
        return
    row = models.row(OutcomeCriteriaView, instrument)
    criteria = event.criteria
    row["judged_at"], row["policy_version"] = judged_at, event.policy_version
    row["remission_below"] = criteria.remission_below
    row["response_reduction_percent"] = criteria.response_reduction_percent
    row["response_reduction_points"] = criteria.response_reduction_points
    row["substantial_reduction_percent"] = criteria.substantial_reduction_percent


@handles(EligibilityDetermined)
def _determined(models: ReadModels, event: EligibilityDetermined, _envelope: CloudEvent) -> None:
    patient = _patient(models, event.patient_id)
    patient["screening_outcome"] = event.outcome.value
    patient["cleared"] = patient["cleared"] or event.outcome is EligibilityOutcome.ELIGIBLE


@handles(EligibilityReviewed)
def _reviewed(models: ReadModels, event: EligibilityReviewed, _envelope: CloudEvent) -> None:
    patient = _patient(models, event.patient_id)
    patient["review_decision"] = event.decision.value
    patient["cleared"] = patient["cleared"] or event.decision.value == "approve"


@handles(CourseOpened)
def _course_opened(models: ReadModels, event: CourseOpened, _envelope: CloudEvent) -> None:
    patient = _patient(models, event.patient_id)
    patient["course_opened"] = patient["cleared"] = True


@handles(DosingSessionScheduled)
def _scheduled(models: ReadModels, event: DosingSessionScheduled, _envelope: CloudEvent) -> None:
    row = models.row(DosingView, event.session_id, patient_id=event.patient_id)
    row["patient_id"], row["session_number"] = event.patient_id, event.session_number
    row["scheduled_for"] = event.scheduled_for


@handles(PatientCheckedIn, DosingDeferred, DoseAdministered, VitalsRecorded, PatientDischarged)
def _dosing_step(models: ReadModels, event: Any, _envelope: CloudEvent) -> None:
    row = models.find(DosingView, event.session_id)
    if row is None:
        return
    match event:
        case PatientCheckedIn():
            row["status"], row["last_bp"] = "checked_in", f"{event.systolic}/{event.diastolic}"
        case DosingDeferred():
            row["status"] = "deferred"
        case DoseAdministered():
            row["status"], row["dosed_at"] = "monitoring", event.administered_at
            infusion = timedelta(minutes=event.infusion_minutes or 0)
            row["administration_ended_at"] = event.administered_at + infusion
            _patient(models, event.patient_id)["doses_given"] += 1
        case VitalsRecorded():
            row["last_bp"] = f"{event.systolic}/{event.diastolic}"
        case PatientDischarged():
            row["status"], row["discharged_at"] = "discharged", event.discharged_at
            row["min_observation_minutes"] = event.min_observation_minutes


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
def _alert(models: ReadModels, event: Any, envelope: CloudEvent) -> None:
    alert = models.row(AlertView, envelope.id, patient_id=event.patient_id)
    alert["patient_id"], alert["kind"] = event.patient_id, ALERT_KINDS[event.name()]
    alert["detail"], alert["raised_at"] = summary_of(event), event.clinical_time(envelope.time)


@handles(AlertAcknowledged)
def _acknowledged(models: ReadModels, event: AlertAcknowledged, _envelope: CloudEvent) -> None:
    # Upsert: in a rebuild the acknowledgement (access topic) may come before or after the alert.
    alert = models.row(AlertView, event.alert_event_id, patient_id=event.patient_id)
    alert["acknowledged_at"] = event.acknowledged_at
    alert["acknowledged_by"] = f"{event.role}:{event.user_id}"


@handles(CourseCompleted)
def _completed(models: ReadModels, event: CourseCompleted, _envelope: CloudEvent) -> None:
    patient = _patient(models, event.patient_id)
    patient["completed"], patient["final_total"] = True, event.final_total
    patient["outcome_instrument"] = event.instrument.value
    patient["response"], patient["remission"] = event.response, event.remission
    patient["substantial_response"] = event.substantial_response
    _criteria(models, event.instrument.value, event, event.completed_at)


@handles(CourseDiscontinued)
def _discontinued(models: ReadModels, event: CourseDiscontinued, _envelope: CloudEvent) -> None:
    _patient(models, event.patient_id)["discontinued"] = event.reason.value
