"""Events of the session context (`carepath.session.events`), current versions: the treatment
course, preparation sessions, dosing sessions (check-in, dose, monitoring, discharge) and
suspension. Superseded versions and their upcasters are in `versions`.

Every event carries the patient id (the Kafka key); a policy-driven decision also carries the
policy version and the limits that applied, so the log shows why it was decided.
"""

from datetime import date
from typing import Annotated, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from carepath.contracts.common import (
    AdverseEventSeverity,
    ChartedTimeAsRecorded,
    DiastolicMmHg,
    HeartRateBpm,
    PatientId,
    PolicyVersion,
    Rationale,
    SpO2Percent,
    SystolicMmHg,
    TherapyModality,
    WeightKg,
    measured,
)
from carepath.contracts.events import DomainEvent, registry
from carepath.contracts.intake.types import SuicidalityFinding  # one flag, in three contexts
from carepath.contracts.privacy import FREE_TEXT
from carepath.contracts.session.types import (
    AlertDiastolicMmHg,
    AlertHeartRateBpm,
    AlertSystolicMmHg,
    CadssTotal,
    ClinicalNotes,
    CourseBarReason,
    CourseEndReason,
    CourseOpeningBasis,
    CoursePhase,
    CourseSuspensionReason,
    DischargeRefusalReason,
    DoseMg,
    Intention,
    ObservationWindowMinutes,
    Phq9ItemAnswer,
    Route,
    SedationLevel,
    SideEffect,
    VitalsAlertKind,
)


class SessionEvent(DomainEvent):
    """Base of the session context's events: courses, preparation and dosing sessions."""

    context = "session"


@registry.register
class CourseOpened(SessionEvent):
    """A treatment course was opened, with its induction plan, for a patient cleared for dosing."""

    patient_id: PatientId
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
    consent_given_at: AwareDatetime | None = Field(
        default=None,
        description="When the consent the screening that cleared the patient relied on was "
        "given: a withdrawal before it does not touch this course. Absent in events recorded "
        "before 2026-11.",
    )


@registry.register
class PreparationSessionCompleted(SessionEvent):
    """A preparation session was held: intentions set, a mindfulness practice agreed."""

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "held_at"

    patient_id: PatientId
    course_id: UUID = Field(description="The course the session prepares for.")
    preparation_session_id: UUID = Field(description="Id of the preparation session.")
    held_at: ChartedTimeAsRecorded = Field(
        description="When the session was held (ISO 8601 with offset)."
    )
    intentions: list[Intention] = Field(
        json_schema_extra=FREE_TEXT,
        min_length=1,
        max_length=10,
        description="The patient's intentions or goals, 1-10 (PHI).",
    )
    mindfulness_practice: str | None = Field(
        json_schema_extra=FREE_TEXT,
        default=None,
        min_length=1,
        max_length=500,
        description="Mindfulness practice agreed.",
    )
    modality: TherapyModality = Field(description="Psychotherapy modality of the session.")
    therapist_notes: ClinicalNotes | None = Field(
        json_schema_extra=FREE_TEXT,
        default=None,
        description="The therapist's free-text notes (PHI).",
    )


@registry.register
class DosingSessionScheduled(SessionEvent):
    """A dosing session of a course was booked."""

    patient_id: PatientId
    course_id: UUID = Field(description="The course the session belongs to.")
    session_id: UUID = Field(description="Id of the dosing session.")
    session_number: int = Field(ge=1, description="Place of the session in the course, from 1.")
    scheduled_for: AwareDatetime = Field(
        description="When the session is booked (ISO 8601 with offset)."
    )
    phase: CoursePhase | None = Field(
        default=None,
        description="Induction or maintenance; absent in events recorded before 2026-11 "
        "(all induction).",
    )


@registry.register
class PatientCheckedIn(SessionEvent):
    """The patient checked in for a dosing session: pre-dose vitals, weight and PHQ-9."""

    clinical_time_field = "measured_at"

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTimeAsRecorded = Field(description="When the pre-dose vitals were taken.")
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
    policy_version: PolicyVersion | None = Field(
        default=None,
        description="Version of the session policy the check-in was judged under (BP limits, "
        "how long the check-in stays valid); absent in events recorded before 2026-11.",
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
class PreDoseSuicidalityFlagRaised(SessionEvent, SuicidalityFinding):
    """The pre-dose PHQ-9 at check-in answered item 9 (thoughts of self-harm) above the policy
    limit: the same flag, needing same-day clinician follow-up, as at intake. Published as
    `carepath.session.SuicidalityFlagRaised`. It does not stop dosing; a clinician decides."""

    event_name = "SuicidalityFlagRaised"
    clinical_time_field = "measured_at"

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session whose check-in raised it.")


@registry.register
class DosingDeferred(SessionEvent):
    """Dosing was deferred because the pre-dose blood pressure was above the policy limit."""

    patient_id: PatientId
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

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "administered_at"

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    administered_at: ChartedTimeAsRecorded = Field(
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
        json_schema_extra=FREE_TEXT,
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
class VitalsRecorded(SessionEvent):
    """A vitals reading was taken during or after the dose. v2: blood pressure as two numbers."""

    clinical_time_field = "measured_at"

    version = 2

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTimeAsRecorded = Field(description="When the vitals were taken.")
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

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTimeAsRecorded = Field(description="When the alerting vitals were taken.")
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

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "observed_at"

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    observed_at: ChartedTimeAsRecorded = Field(description="When the observation was made.")
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
        json_schema_extra=FREE_TEXT,
        default=None,
        description="What the `other` side effect was (PHI), when listed.",
    )
    notes: str | None = Field(
        json_schema_extra=FREE_TEXT, default=None, description="Free-text notes (PHI)."
    )


@registry.register
class AdverseEventReported(SessionEvent):
    """An adverse event was reported in a dosing session."""

    version = 2  # v2: its identifying and free-text fields sealed

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    occurred_at: ChartedTimeAsRecorded = Field(description="When the adverse event began.")
    description: str = Field(
        min_length=1, description="What happened (PHI).", json_schema_extra=FREE_TEXT
    )
    severity: AdverseEventSeverity = Field(description="How severe the adverse event was.")
    serious: bool = Field(description="Whether it is a serious adverse event.")


@registry.register
class DischargeRefused(SessionEvent):
    """A discharge was refused: too early, blood pressure still high, or checks not confirmed."""

    clinical_time_field = "attempted_at"

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    attempted_at: ChartedTimeAsRecorded = Field(description="When the discharge was attempted.")
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

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    discharged_at: ChartedTimeAsRecorded = Field(description="When the patient left.")
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

    version = 2  # v2: its identifying and free-text fields sealed

    patient_id: PatientId
    course_id: UUID = Field(description="The suspended course.")
    reason: CourseSuspensionReason = Field(description="Why the course was suspended.")
    caused_by_event_id: UUID | None = Field(
        default=None,
        description="Id of the event that caused it (consent withdrawal, adverse event report).",
    )
    rationale: Rationale | None = Field(
        json_schema_extra=FREE_TEXT,
        default=None,
        description="The clinician's rationale (PHI), when a clinician suspended it.",
    )


@registry.register
class CourseResumed(SessionEvent):
    """A clinician resumed a suspended course."""

    version = 2  # v2: its identifying and free-text fields sealed

    patient_id: PatientId
    course_id: UUID = Field(description="The resumed course.")
    rationale: Rationale = Field(
        json_schema_extra=FREE_TEXT, description="Why dosing may continue (PHI)."
    )


@registry.register
class MaintenancePhaseStarted(SessionEvent):
    """After the induction plan, a clinician started the maintenance phase: `planned_sessions`
    more dosing sessions, each at least `min_interval_days` after the dose before it."""

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "started_at"

    patient_id: PatientId
    course_id: UUID = Field(description="The course.")
    started_at: ChartedTimeAsRecorded = Field(description="When the clinician started it.")
    induction_doses: int = Field(ge=1, le=12, description="Doses given in the induction.")
    planned_sessions: int = Field(
        ge=1, le=24, description="Maintenance dosing sessions planned (policy)."
    )
    min_interval_days: Annotated[
        int, measured("days", "Policy: least time between maintenance doses", ge=1, le=90)
    ]
    max_interval_days: Annotated[
        int, measured("days", "Policy: most time between maintenance doses", ge=1, le=180)
    ]
    rationale: Rationale = Field(
        json_schema_extra=FREE_TEXT, description="Why maintenance dosing is indicated (PHI)."
    )
    policy_version: PolicyVersion


@registry.register
class BoosterSessionAdded(SessionEvent):
    """In the maintenance phase, a clinician added a booster dosing session to the plan."""

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "added_at"

    patient_id: PatientId
    course_id: UUID = Field(description="The course.")
    added_at: ChartedTimeAsRecorded = Field(description="When the clinician added it.")
    boosters: int = Field(ge=1, le=12, description="Boosters in the course, this one included.")
    max_boosters: int = Field(ge=1, le=12, description="Policy: most boosters in a course.")
    rationale: Rationale = Field(
        json_schema_extra=FREE_TEXT, description="Why a booster is indicated (PHI)."
    )
    policy_version: PolicyVersion


@registry.register
class CourseEnded(SessionEvent):
    """The course ended (completed or discontinued, in integration): no further sessions."""

    patient_id: PatientId
    course_id: UUID = Field(description="The course that ended.")
    reason: CourseEndReason = Field(description="Completed or discontinued.")
    ended_by_event_id: UUID = Field(
        description="The event that ended it: CourseCompleted, CourseDiscontinued, the declining "
        "EligibilityReviewed or ScreeningClosed."
    )


@registry.register
class CourseBarred(SessionEvent):
    """The clinic said no before any course was opened: consent withdrawn, declined on review,
    or the screening closed. The session service remembers it, so that no course opens and no
    dose is given without new consent and a new screening, in whatever order the intake and
    eligibility topics arrive."""

    patient_id: PatientId
    reason: CourseBarReason = Field(description="Why no course may open.")
    caused_by_event_id: UUID = Field(
        description="The upstream event: ConsentWithdrawn, the declining EligibilityReviewed, "
        "or ScreeningClosed."
    )
