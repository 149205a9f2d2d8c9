"""Commands and events of the session context (`carepath.session.events`): the treatment course,
preparation sessions, dosing sessions (check-in, dose, monitoring, discharge) and suspension.

Commands are the HTTP request bodies: ids from the URL path (patient, course, session) are not in
them. Events carry the patient id (the Kafka key) and, for policy-driven decisions, the policy
version and the limits that applied.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, field_validator, model_validator

from carepath.contracts.common import (
    AdverseEventSeverity,
    ChartedTime,
    ContractModel,
    DiastolicMmHg,
    HeartRateBpm,
    PolicyVersion,
    Rationale,
    SpO2Percent,
    SystolicMmHg,
    TherapyModality,
    WeightKg,
    measured,
)
from carepath.contracts.events import DomainEvent, registry

Intention = Annotated[str, Field(min_length=1, max_length=500)]
ClinicalNotes = Annotated[str, Field(min_length=1, max_length=4000)]
Phq9ItemAnswer = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=3,
        description="A PHQ-9 item answer: 0 not at all ... 3 nearly every day.",
    ),
]
CadssTotal = Annotated[
    int, Field(ge=0, le=92, description="CADSS dissociation total: 23 items 0-4, total 0-92.")
]
# The upper bound only catches entry errors (a slipped decimal point); the policy range is checked
# by the service and a clinician may override it.
DoseMg = Annotated[float, measured("mg", "Ketamine dose", le=3000), Field(gt=0)]
AlertSystolicMmHg = Annotated[
    int,
    measured("mmHg", "Alert threshold: systolic BP above it, policy default 180", ge=50, le=300),
]
AlertDiastolicMmHg = Annotated[
    int,
    measured("mmHg", "Alert threshold: diastolic BP above it, policy default 100", ge=20, le=200),
]
AlertHeartRateBpm = Annotated[
    int, measured("bpm", "Alert threshold: heart rate above it, policy default 110", ge=20, le=250)
]
ObservationWindowMinutes = Annotated[
    int,
    measured("min", "Least observation after the dose before discharge, policy default 120", ge=0),
]


class Route(StrEnum):
    """How the ketamine is given."""

    IV = "iv"
    IM = "im"
    ORAL = "oral"
    SUBLINGUAL = "sublingual"


class SideEffect(StrEnum):
    """A side effect seen during a dosing session; `other` needs a description."""

    NAUSEA = "nausea"
    DIZZINESS = "dizziness"
    HEADACHE = "headache"
    ANXIETY = "anxiety"
    OTHER = "other"


class SedationLevel(StrEnum):
    """Level of sedation observed, from fully alert to unresponsive."""

    ALERT = "alert"
    DROWSY = "drowsy"
    RESPONDS_TO_VOICE = "responds_to_voice"
    RESPONDS_TO_TOUCH = "responds_to_touch"
    UNRESPONSIVE = "unresponsive"


class CourseSuspensionReason(StrEnum):
    """Why a course was suspended: no further dosing until it is resumed."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    SERIOUS_ADVERSE_EVENT = "serious_adverse_event"
    CLINICIAN_DECISION = "clinician_decision"


class CourseOpeningBasis(StrEnum):
    """What allowed the course to open: an `eligible` screening or an approved clinician review."""

    ELIGIBLE = "eligible"
    REVIEW_APPROVED = "review_approved"


class VitalsAlertKind(StrEnum):
    """Which alert threshold a vitals reading went above."""

    BLOOD_PRESSURE_HIGH = "blood_pressure_high"
    HEART_RATE_HIGH = "heart_rate_high"


class DischargeRefusalReason(StrEnum):
    """Why a discharge was refused."""

    OBSERVATION_WINDOW_NOT_ELAPSED = "observation_window_not_elapsed"
    BLOOD_PRESSURE_ABOVE_ALERT_THRESHOLD = "blood_pressure_above_alert_threshold"
    NO_BLOOD_PRESSURE_SINCE_DOSE = "no_blood_pressure_since_dose"
    READINESS_NOT_CONFIRMED = "readiness_not_confirmed"
    ESCORT_NOT_CONFIRMED = "escort_not_confirmed"


def _check_diastolic_below_systolic(systolic: int, diastolic: int) -> None:
    if diastolic >= systolic:
        raise ValueError(f"diastolic must be lower than systolic (got {systolic}/{diastolic} mmHg)")


# Commands


class RecordPreparationSession(ContractModel):
    """Command: chart a preparation session held before the first dose of a course."""

    held_at: ChartedTime = Field(description="When the session was held (ISO 8601 with offset).")
    intentions: list[Intention] = Field(
        min_length=1, max_length=10, description="The patient's intentions or goals, 1-10 (PHI)."
    )
    mindfulness_practice: str | None = Field(
        default=None, min_length=1, max_length=500, description="Mindfulness practice agreed."
    )
    modality: TherapyModality = Field(description="Psychotherapy modality of the session.")
    therapist_notes: ClinicalNotes | None = Field(
        default=None, description="The therapist's free-text notes (PHI)."
    )


class ScheduleDosingSession(ContractModel):
    """Command: book the next dosing session of a course."""

    scheduled_for: AwareDatetime = Field(
        description="When the session is booked (ISO 8601 with offset)."
    )
    booked_at: ChartedTime | None = Field(
        default=None, description="When the booking was made; default now."
    )


class CheckIn(ContractModel):
    """Command: chart the pre-dose check-in of a dosing session (vitals, weight, PHQ-9)."""

    measured_at: ChartedTime = Field(description="When the pre-dose vitals were taken.")
    systolic: SystolicMmHg
    diastolic: DiastolicMmHg
    heart_rate: HeartRateBpm
    spo2: SpO2Percent
    weight_kg: WeightKg
    pre_dose_phq9_answers: list[Phq9ItemAnswer] | None = Field(
        default=None,
        min_length=9,
        max_length=9,
        description="The 9 PHQ-9 item answers (0-3 each) in item order; the service scores them.",
    )

    @model_validator(mode="after")
    def _diastolic_below_systolic(self) -> Self:
        _check_diastolic_below_systolic(self.systolic, self.diastolic)
        return self


class AdministerDose(ContractModel):
    """Command: chart a ketamine dose. The service checks it against the policy range of the
    route and rejects a dose outside it unless `override_rationale` is given."""

    administered_at: ChartedTime = Field(
        description="When the dose was given (for IV, the start of the infusion)."
    )
    route: Route = Field(description="How the dose was given.")
    dose_mg: DoseMg
    infusion_minutes: int | None = measured(
        "min",
        "Infusion duration; required for iv, not allowed for other routes",
        ge=1,
        le=240,
        default=None,
    )
    override_rationale: Rationale | None = Field(
        default=None, description="Why a dose outside the policy range is given (PHI)."
    )

    @model_validator(mode="after")
    def _infusion_minutes_only_for_iv(self) -> Self:
        if self.route is Route.IV and self.infusion_minutes is None:
            raise ValueError("infusion_minutes is required when route is iv")
        if self.route is not Route.IV and self.infusion_minutes is not None:
            raise ValueError(f"infusion_minutes is allowed only for route iv, not {self.route}")
        return self


class RecordVitals(ContractModel):
    """Command: chart a vitals reading taken during or after the dose."""

    measured_at: ChartedTime = Field(description="When the vitals were taken.")
    systolic: SystolicMmHg
    diastolic: DiastolicMmHg
    heart_rate: HeartRateBpm
    spo2: SpO2Percent

    @model_validator(mode="after")
    def _diastolic_below_systolic(self) -> Self:
        _check_diastolic_below_systolic(self.systolic, self.diastolic)
        return self


class RecordObservation(ContractModel):
    """Command: chart what staff observed: dissociation (CADSS), sedation, side effects."""

    observed_at: ChartedTime = Field(description="When the observation was made.")
    cadss_total: CadssTotal | None = Field(
        default=None, description="CADSS dissociation total (0-92), when assessed."
    )
    sedation: SedationLevel | None = Field(
        default=None, description="Sedation level, when assessed."
    )
    side_effects: list[SideEffect] = Field(
        default_factory=list, description="Side effects seen, each listed once; may be empty."
    )
    other_side_effect: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="What the `other` side effect was (PHI); given exactly when `other` is listed.",
    )
    notes: ClinicalNotes | None = Field(default=None, description="Free-text notes (PHI).")

    @model_validator(mode="after")
    def _something_observed(self) -> Self:
        if self.cadss_total is None and self.sedation is None and not self.side_effects:
            raise ValueError("give at least one of cadss_total, sedation or side_effects")
        return self

    @model_validator(mode="after")
    def _side_effects_listed_once_and_other_described(self) -> Self:
        if len(set(self.side_effects)) != len(self.side_effects):
            raise ValueError("side_effects must list each side effect at most once")
        listed = SideEffect.OTHER in self.side_effects
        if listed and self.other_side_effect is None:
            raise ValueError("other_side_effect is required when side_effects lists other")
        if not listed and self.other_side_effect is not None:
            raise ValueError("other_side_effect is allowed only when side_effects lists other")
        return self


class ReportAdverseEvent(ContractModel):
    """Command: report an adverse event in a dosing session; a serious one suspends the course."""

    occurred_at: ChartedTime = Field(description="When the adverse event began.")
    description: ClinicalNotes = Field(description="What happened (PHI).")
    severity: AdverseEventSeverity = Field(description="How severe the adverse event was.")
    serious: bool = Field(
        description=(
            "Whether it is a serious adverse event (life-threatening, hospitalisation, lasting "
            "harm): a matter of outcome, not intensity; always true when life_threatening."
        )
    )

    @model_validator(mode="after")
    def _life_threatening_is_serious(self) -> Self:
        if self.severity is AdverseEventSeverity.LIFE_THREATENING and not self.serious:
            raise ValueError("serious must be true when severity is life_threatening")
        return self


class DischargePatient(ContractModel):
    """Command: discharge the patient after a dosing session. The service refuses an early or
    unsafe discharge and says why."""

    discharged_at: ChartedTime = Field(description="When the patient leaves.")
    readiness_confirmed: bool = Field(
        description="Whether a clinician checked and confirmed the patient is ready to leave."
    )
    escort_confirmed: bool = Field(
        description="Whether an adult escort to take the patient home is confirmed."
    )
    no_driving_advised: bool = Field(
        description="Whether the patient was told not to drive until the next day; must be true."
    )

    @field_validator("no_driving_advised")
    @classmethod
    def _no_driving_was_advised(cls, value: bool) -> bool:
        if not value:
            raise ValueError("must be true: advise the patient not to drive until the next day")
        return value


class SuspendCourse(ContractModel):
    """Command: a clinician suspends a course; no further dosing until it is resumed."""

    reason: CourseSuspensionReason = Field(description="Why the course is suspended.")
    rationale: Rationale = Field(description="The clinician's written rationale (PHI).")
    suspended_at: ChartedTime | None = Field(
        default=None, description="When the clinician suspended it; default now."
    )


class ResumeCourse(ContractModel):
    """Command: a clinician resumes a suspended course."""

    rationale: Rationale = Field(description="Why dosing may continue (PHI).")
    resumed_at: ChartedTime | None = Field(
        default=None, description="When the clinician resumed it; default now."
    )


# Events


class SessionEvent(DomainEvent):
    """Base of the session context's events: courses, preparation and dosing sessions."""

    context = "session"


@registry.register
class CourseOpened(SessionEvent):
    """A treatment course was opened, with its induction plan, for a patient cleared for dosing."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    course_id: UUID = Field(description="Id of the new course.")
    basis: CourseOpeningBasis = Field(description="What allowed the course to open.")
    basis_event_id: UUID = Field(
        description="The EligibilityDetermined or EligibilityReviewed event that allowed it."
    )
    planned_dosing_sessions: int = Field(
        ge=1, le=12, description="Planned number of dosing sessions (policy default 6)."
    )
    planned_weeks: Annotated[
        int, measured("weeks", "Planned length of the induction, policy default 2-3", ge=1, le=12)
    ]
    policy_version: PolicyVersion


@registry.register
class PreparationSessionCompleted(SessionEvent):
    """A preparation session was held: intentions set, a mindfulness practice agreed."""

    clinical_time_field = "held_at"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    course_id: UUID = Field(description="The course the session prepares for.")
    preparation_session_id: UUID = Field(description="Id of the preparation session.")
    held_at: ChartedTime = Field(description="When the session was held (ISO 8601 with offset).")
    intentions: list[Intention] = Field(
        min_length=1, max_length=10, description="The patient's intentions or goals, 1-10 (PHI)."
    )
    mindfulness_practice: str | None = Field(
        default=None, min_length=1, max_length=500, description="Mindfulness practice agreed."
    )
    modality: TherapyModality = Field(description="Psychotherapy modality of the session.")
    therapist_notes: ClinicalNotes | None = Field(
        default=None, description="The therapist's free-text notes (PHI)."
    )


@registry.register
class DosingSessionScheduled(SessionEvent):
    """A dosing session of a course was booked."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    course_id: UUID = Field(description="The course the session belongs to.")
    session_id: UUID = Field(description="Id of the dosing session.")
    session_number: int = Field(ge=1, description="Place of the session in the course, from 1.")
    scheduled_for: AwareDatetime = Field(
        description="When the session is booked (ISO 8601 with offset)."
    )


@registry.register
class PatientCheckedIn(SessionEvent):
    """The patient checked in for a dosing session: pre-dose vitals, weight and PHQ-9."""

    clinical_time_field = "measured_at"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTime = Field(description="When the pre-dose vitals were taken.")
    systolic: SystolicMmHg
    diastolic: DiastolicMmHg
    heart_rate: HeartRateBpm
    spo2: SpO2Percent
    weight_kg: WeightKg
    pre_dose_phq9_answers: list[Phq9ItemAnswer] | None = Field(
        default=None,
        min_length=9,
        max_length=9,
        description="The 9 PHQ-9 item answers (0-3 each) in item order; item 9 is suicidality.",
    )
    pre_dose_phq9_total: int | None = Field(
        default=None, ge=0, le=27, description="PHQ-9 total scored by the service (0-27)."
    )

    @model_validator(mode="after")
    def _total_is_sum_of_answers(self) -> Self:
        answers, total = self.pre_dose_phq9_answers, self.pre_dose_phq9_total
        if (answers is None) != (total is None):
            raise ValueError("pre_dose_phq9_answers and pre_dose_phq9_total go together")
        if answers is not None and total != sum(answers):
            raise ValueError(f"pre_dose_phq9_total must be {sum(answers)}, the sum of the answers")
        return self


@registry.register
class DosingDeferred(SessionEvent):
    """Dosing was deferred because the pre-dose blood pressure was above the policy limit."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The deferred dosing session.")
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="Why dosing was deferred, for staff, e.g. `BP 150/95 mmHg is above 140/90`.",
    )
    systolic: SystolicMmHg = Field(description="Pre-dose systolic blood pressure (mmHg).")
    diastolic: DiastolicMmHg = Field(description="Pre-dose diastolic blood pressure (mmHg).")
    max_systolic_mmhg: Annotated[
        int,
        measured(
            "mmHg",
            "Highest pre-dose systolic BP that allows dosing, policy default 140",
            ge=50,
            le=300,
        ),
    ]
    max_diastolic_mmhg: Annotated[
        int,
        measured(
            "mmHg",
            "Highest pre-dose diastolic BP that allows dosing, policy default 90",
            ge=20,
            le=200,
        ),
    ]
    policy_version: PolicyVersion


@registry.register
class DoseAdministered(SessionEvent):
    """A ketamine dose was given, with the policy range it was checked against.

    The range is per kg (`policy_min_mg_per_kg`/`policy_max_mg_per_kg`, weight-based routes: iv,
    im, oral) or fixed (`policy_min_mg`/`policy_max_mg`, sublingual): exactly one pair is set.
    """

    clinical_time_field = "administered_at"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    administered_at: ChartedTime = Field(
        description="When the dose was given (for IV, the start of the infusion)."
    )
    route: Route = Field(description="How the dose was given.")
    dose_mg: DoseMg
    dose_mg_per_kg: Annotated[
        float, measured("mg/kg", "Dose per kg of today's weight"), Field(gt=0)
    ]
    weight_kg: WeightKg = Field(description="Today's weight, from the check-in (kg).")
    infusion_minutes: int | None = measured(
        "min", "Infusion duration; set for iv only", ge=1, le=240, default=None
    )
    policy_min_mg_per_kg: float | None = measured(
        "mg/kg", "Lowest dose of a per-kg policy range; null for a fixed range", ge=0, default=None
    )
    policy_max_mg_per_kg: float | None = measured(
        "mg/kg", "Highest dose of a per-kg policy range; null for a fixed range", ge=0, default=None
    )
    policy_min_mg: float | None = measured(
        "mg", "Lowest dose of a fixed policy range; null for a per-kg range", ge=0, default=None
    )
    policy_max_mg: float | None = measured(
        "mg", "Highest dose of a fixed policy range; null for a per-kg range", ge=0, default=None
    )
    within_policy_range: bool = Field(description="Whether the dose lay within the policy range.")
    override_rationale: Rationale | None = Field(
        default=None,
        description="Why a dose outside the policy range was given (PHI); required then.",
    )
    policy_version: PolicyVersion

    @model_validator(mode="after")
    def _one_policy_range(self) -> Self:
        per_kg = (self.policy_min_mg_per_kg, self.policy_max_mg_per_kg)
        fixed = (self.policy_min_mg, self.policy_max_mg)
        given = [pair for pair in (per_kg, fixed) if pair != (None, None)]
        low, high = given[0] if len(given) == 1 else (None, None)
        if low is None or high is None:
            raise ValueError(
                "give exactly one policy range: both of policy_min_mg_per_kg and "
                "policy_max_mg_per_kg, or both of policy_min_mg and policy_max_mg"
            )
        if low > high:
            raise ValueError(f"the policy range minimum {low} is above its maximum {high}")
        return self

    @model_validator(mode="after")
    def _override_rationale_when_outside_range(self) -> Self:
        if not self.within_policy_range and self.override_rationale is None:
            raise ValueError("override_rationale is required when within_policy_range is false")
        return self


@registry.register
class VitalsRecordedV1(SessionEvent):
    """Version 1 of `VitalsRecorded` (superseded): blood pressure as one charted text, e.g.
    `"128/84"`. Kept so that v1 events in the log stay readable; read as v2.

    The worked example of versioning: splitting a field changes its type, which no additive
    change can do, so v2 is a new type with an upcaster from v1 (contracts/README.md).
    """

    clinical_time_field = "measured_at"

    event_name = "VitalsRecorded"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTime = Field(description="When the vitals were taken.")
    blood_pressure: str = Field(
        pattern=r"^[0-9]{2,3}/[0-9]{2,3}$", description="Systolic/diastolic (mmHg), e.g. 128/84."
    )
    heart_rate: HeartRateBpm
    spo2: SpO2Percent


@registry.upcaster(VitalsRecordedV1)
def _blood_pressure_text_becomes_two_numbers(v1: dict[str, Any]) -> dict[str, Any]:
    systolic, diastolic = v1.pop("blood_pressure").split("/")
    return {
        **v1,
        "systolic": int(systolic),
        "diastolic": int(diastolic),
        "minutes_since_dose": None,
    }


@registry.register
class VitalsRecorded(SessionEvent):
    """A vitals reading was taken during or after the dose. v2: blood pressure as two numbers."""

    clinical_time_field = "measured_at"

    version = 2

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTime = Field(description="When the vitals were taken.")
    systolic: SystolicMmHg
    diastolic: DiastolicMmHg
    heart_rate: HeartRateBpm
    spo2: SpO2Percent
    minutes_since_dose: int | None = measured(
        "min", "Time since the dose was given; null when no dose has been given", ge=0, default=None
    )


@registry.register
class VitalsAlertRaised(SessionEvent):
    """A vitals reading went above an alert threshold; staff are alerted (dosing is not stopped)."""

    clinical_time_field = "measured_at"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTime = Field(description="When the alerting vitals were taken.")
    kinds: list[VitalsAlertKind] = Field(
        min_length=1, description="Which thresholds the reading went above."
    )
    systolic: SystolicMmHg
    diastolic: DiastolicMmHg
    heart_rate: HeartRateBpm
    alert_systolic_mmhg: AlertSystolicMmHg
    alert_diastolic_mmhg: AlertDiastolicMmHg
    alert_heart_rate_bpm: AlertHeartRateBpm
    policy_version: PolicyVersion


@registry.register
class ObservationRecorded(SessionEvent):
    """Staff observed the patient: dissociation (CADSS), sedation, side effects."""

    clinical_time_field = "observed_at"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    observed_at: ChartedTime = Field(description="When the observation was made.")
    cadss_total: CadssTotal | None = Field(
        default=None, description="CADSS dissociation total (0-92), when assessed."
    )
    sedation: SedationLevel | None = Field(
        default=None, description="Sedation level, when assessed."
    )
    side_effects: list[SideEffect] = Field(
        default_factory=list, description="Side effects seen; may be empty."
    )
    other_side_effect: str | None = Field(
        default=None, description="What the `other` side effect was (PHI), when listed."
    )
    notes: str | None = Field(default=None, description="Free-text notes (PHI).")


@registry.register
class AdverseEventReported(SessionEvent):
    """An adverse event was reported in a dosing session."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    occurred_at: ChartedTime = Field(description="When the adverse event began.")
    description: str = Field(min_length=1, description="What happened (PHI).")
    severity: AdverseEventSeverity = Field(description="How severe the adverse event was.")
    serious: bool = Field(description="Whether it is a serious adverse event.")


@registry.register
class DischargeRefused(SessionEvent):
    """A discharge was refused: too early, blood pressure still high, or checks not confirmed."""

    clinical_time_field = "attempted_at"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    attempted_at: ChartedTime = Field(description="When the discharge was attempted.")
    reasons: list[DischargeRefusalReason] = Field(
        min_length=1, description="Every reason the discharge was refused."
    )
    explanation: str = Field(
        min_length=1,
        max_length=1000,
        description="The refusal in words staff can act on, e.g. `observed 85 of 120 minutes`.",
    )
    earliest_discharge_at: AwareDatetime | None = Field(
        default=None,
        description="When the observation window ends; set when it has not yet elapsed.",
    )
    observation_minutes: int | None = measured(
        "min", "Observation so far, from the dose; null when no dose was given", ge=0, default=None
    )
    last_systolic: SystolicMmHg | None = Field(
        default=None, description="Last systolic BP since the dose (mmHg); null when none."
    )
    last_diastolic: DiastolicMmHg | None = Field(
        default=None, description="Last diastolic BP since the dose (mmHg); null when none."
    )
    min_observation_minutes: ObservationWindowMinutes
    alert_systolic_mmhg: AlertSystolicMmHg
    alert_diastolic_mmhg: AlertDiastolicMmHg
    policy_version: PolicyVersion


@registry.register
class PatientDischarged(SessionEvent):
    """The patient was discharged after the observation window, with the safety checks met."""

    clinical_time_field = "discharged_at"

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    session_id: UUID = Field(description="The dosing session.")
    discharged_at: ChartedTime = Field(description="When the patient left.")
    observation_minutes: Annotated[
        int, measured("min", "Observation from the dose to discharge", ge=0)
    ]
    last_systolic: SystolicMmHg = Field(description="Last systolic BP before discharge (mmHg).")
    last_diastolic: DiastolicMmHg = Field(description="Last diastolic BP before discharge (mmHg).")
    readiness_confirmed: bool = Field(
        description="Whether a clinician confirmed the patient was ready to leave."
    )
    escort_confirmed: bool = Field(description="Whether an adult escort was confirmed.")
    no_driving_until: date = Field(
        description="The patient was advised not to drive before this date (the next day)."
    )
    min_observation_minutes: ObservationWindowMinutes
    alert_systolic_mmhg: AlertSystolicMmHg
    alert_diastolic_mmhg: AlertDiastolicMmHg
    policy_version: PolicyVersion


@registry.register
class CourseSuspended(SessionEvent):
    """A course was suspended (consent withdrawn or a serious adverse event); no dosing until it
    is resumed."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    course_id: UUID = Field(description="The suspended course.")
    reason: CourseSuspensionReason = Field(description="Why the course was suspended.")
    caused_by_event_id: UUID | None = Field(
        default=None,
        description="Id of the event that caused it (consent withdrawal, adverse event report).",
    )
    rationale: Rationale | None = Field(
        default=None, description="The clinician's rationale (PHI), when a clinician suspended it."
    )


@registry.register
class CourseResumed(SessionEvent):
    """A clinician resumed a suspended course."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    course_id: UUID = Field(description="The resumed course.")
    rationale: Rationale = Field(description="Why dosing may continue (PHI).")


class CourseEndReason(StrEnum):
    """How the course ended, as integration recorded it."""

    COMPLETED = "completed"
    DISCONTINUED = "discontinued"


@registry.register
class CourseEnded(SessionEvent):
    """The course ended (completed or discontinued, in integration): no further sessions."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    course_id: UUID = Field(description="The course that ended.")
    reason: CourseEndReason = Field(description="Completed or discontinued.")
    ended_by_event_id: UUID = Field(description="The CourseCompleted or CourseDiscontinued event.")
