"""Commands of the session context: the HTTP request bodies that chart preparation and dosing
sessions and suspend or resume a course.

Ids from the URL path (patient, course, session) are not in them. Each command refuses what can
be checked from its own fields (an unknown field, diastolic above systolic, IV without infusion
minutes); rules that need the course's history or the clinic policy are the service's.
"""

from typing import Self

from pydantic import Field, field_validator, model_validator

from carepath.contracts.common import (
    AdverseEventSeverity,
    BoundedDatetime,
    ChartedTime,
    ContractModel,
    DiastolicMmHg,
    HeartRateBpm,
    Rationale,
    SpO2Percent,
    SystolicMmHg,
    TherapyModality,
    WeightKg,
    measured,
)
from carepath.contracts.session.types import (
    CadssTotal,
    ClinicalNotes,
    CourseSuspensionReason,
    DoseMg,
    Intention,
    Phq9ItemAnswer,
    Route,
    SedationLevel,
    SideEffect,
)


def _check_diastolic_below_systolic(systolic: int, diastolic: int) -> None:
    if diastolic >= systolic:
        raise ValueError(f"diastolic must be lower than systolic (got {systolic}/{diastolic} mmHg)")


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

    scheduled_for: BoundedDatetime = Field(
        description="When the session is booked for (ISO 8601 with offset); at most the clinic "
        "policy's booking horizon ahead (`booking.horizon_days`), checked by the service."
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


class AddBoosterSession(ContractModel):
    """Command: in the maintenance phase, a clinician adds a booster dosing session (for instance
    when integration indicates one: the indication's score rose back)."""

    rationale: Rationale = Field(description="Why a booster is indicated (PHI).")
    added_at: ChartedTime | None = Field(
        default=None, description="When the clinician decided it; default now."
    )


class StartMaintenance(ContractModel):
    """Command: after the induction plan, a clinician starts the maintenance phase (its number of
    sessions and their spacing come from the clinic policy)."""

    rationale: Rationale = Field(description="Why maintenance dosing is indicated (PHI).")
    started_at: ChartedTime | None = Field(
        default=None, description="When the clinician decided it; default now."
    )
