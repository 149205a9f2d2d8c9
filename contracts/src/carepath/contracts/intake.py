"""Commands and events of the intake context (`carepath.intake.events`): referral, intake form,
scored assessments, consent, and the completion that hands the patient to eligibility."""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator

from carepath.contracts.common import (
    SCORED_ITEMS,
    ChartedTime,
    ContractModel,
    DiastolicMmHg,
    Instrument,
    PolicyVersion,
    SeverityBand,
    ShortText,
    SuicideRisk,
    SystolicMmHg,
    ValueObject,
    measured,
)
from carepath.contracts.events import DomainEvent, registry

EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)


class ReferralReason(StrEnum):
    """Why the patient was referred; decides which assessments intake asks for."""

    DEPRESSION = "depression"
    PTSD = "ptsd"
    ANXIETY = "anxiety"
    CHRONIC_PAIN = "chronic_pain"


# ---------------------------------------------------------------------------------------------
# Referral


class ReferralDetails(BaseModel):
    """What a referral says about the patient. Personal data (PHI): names, birth date, contact."""

    given_name: str = Field(min_length=1, max_length=100, description="Given name (PHI).")
    family_name: str = Field(min_length=1, max_length=100, description="Family name (PHI).")
    date_of_birth: date = Field(
        description="Date of birth (PHI), ISO 8601 date, not in the future."
    )
    referral_reason: ReferralReason = Field(description="Why the patient was referred.")
    referrer: str = Field(
        min_length=1, max_length=200, description="Referring clinician or organisation."
    )
    contact: str | None = Field(
        default=None, max_length=200, description="Phone or e-mail for the patient (PHI)."
    )

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_date_of_birth(cls, value: date) -> date:
        # Checked against today's date: a date that was past when recorded stays past on replay.
        today = datetime.now(UTC).date()
        if value > today:
            raise ValueError(f"must not be in the future (today is {today.isoformat()})")
        if value < EARLIEST_DATE_OF_BIRTH:
            raise ValueError(f"must be on or after {EARLIEST_DATE_OF_BIRTH.isoformat()}")
        return value


class Referral(ReferralDetails, ContractModel):
    """Request body of a referral (`POST /patients`)."""

    referred_at: ChartedTime | None = Field(
        default=None, description="When the referral was received; default now."
    )


class ReferPatient(Referral):
    """Command: open a patient's record from a referral."""

    patient_id: UUID = Field(description="Pseudonymous patient id, assigned by intake.")


class IntakeEvent(DomainEvent):
    """Base of the intake context's events."""

    context = "intake"


@registry.register
class PatientReferred(IntakeEvent, ReferralDetails):
    """A referral was received and the patient's record opened. Carries personal data (PHI)."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")


# ---------------------------------------------------------------------------------------------
# Intake form


class HepaticImpairment(StrEnum):
    """Degree of liver impairment (Child-Pugh class)."""

    NONE = "none"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class MedicalHistory(ValueObject):
    """The contraindication checklist (DOMAIN.md, Eligibility). `true` = present or in history."""

    aneurysmal_vascular_disease: bool = Field(
        description="Aneurysmal vascular disease (hard stop)."
    )
    arteriovenous_malformation: bool = Field(description="Arteriovenous malformation (hard stop).")
    intracerebral_haemorrhage: bool = Field(
        description="History of intracerebral haemorrhage (hard stop)."
    )
    ketamine_hypersensitivity: bool = Field(
        description="Hypersensitivity to ketamine or esketamine (hard stop)."
    )
    psychosis_history: bool = Field(description="History of psychosis or a psychotic disorder.")
    uncontrolled_hypertension: bool = Field(description="Uncontrolled hypertension.")
    cardiovascular_disease: bool = Field(description="Cardiovascular disease.")
    cerebrovascular_disease: bool = Field(description="Cerebrovascular disease.")
    hypertensive_encephalopathy: bool = Field(description="History of hypertensive encephalopathy.")
    raised_intracranial_pressure: bool = Field(description="Raised intracranial pressure.")
    raised_intraocular_pressure: bool = Field(description="Raised intraocular pressure.")
    hepatic_impairment: HepaticImpairment = Field(description="Hepatic impairment.")
    pregnant_or_breastfeeding: bool = Field(description="Pregnant or breastfeeding.")
    interstitial_cystitis: bool = Field(description="Interstitial or ulcerative cystitis.")
    dementia_or_brain_injury: bool = Field(description="Dementia or symptomatic brain injury.")


class SubstanceUse(ValueObject):
    """Substance use, for the active-substance-use-disorder rule."""

    substances: list[ShortText] = Field(
        default_factory=list, max_length=20, description="Substances used (PHI)."
    )
    substance_use_disorder: bool = Field(
        description="A diagnosed substance use disorder, current or past."
    )
    months_abstinent: int | None = Field(
        default=None,
        ge=0,
        le=1200,
        description="Months since last use, when there is a disorder (months).",
        json_schema_extra={"unit": "months"},
    )


class TrialResponse(StrEnum):
    """How a patient responded to an antidepressant trial."""

    NONE = "none"
    PARTIAL = "partial"
    FULL = "full"


class AntidepressantTrial(ValueObject):
    """One antidepressant trial, for the treatment-resistant-depression indication."""

    drug: ShortText = Field(description="Generic drug name, e.g. sertraline.")
    daily_dose_mg: float = measured("mg", "Daily dose reached", ge=0, le=5000)
    weeks: int = measured("weeks", "Duration at that dose", ge=0, le=520)
    adequate_dose: bool = Field(description="The prescriber judged the dose adequate.")
    response: TrialResponse = Field(description="Response to the trial.")
    current_episode: bool = Field(default=True, description="The trial was in the current episode.")


class Medication(ValueObject):
    """A current medication."""

    name: ShortText = Field(description="Drug name.")
    daily_dose_mg: float | None = measured("mg", "Daily dose", ge=0, le=10000, default=None)


class IntakeFormFields(BaseModel):
    """The intake form: clinical history the screening needs. Personal health data (PHI)."""

    diagnoses: list[ShortText] = Field(max_length=30, description="Current diagnoses (PHI).")
    medications: list[Medication] = Field(
        default_factory=list, max_length=50, description="Current medications."
    )
    medical_history: MedicalHistory = Field(description="The contraindication checklist.")
    substance_use: SubstanceUse = Field(description="Substance use.")
    antidepressant_trials: list[AntidepressantTrial] = Field(
        default_factory=list, max_length=30, description="Prior antidepressant trials."
    )
    resting_systolic_mmhg: SystolicMmHg
    resting_diastolic_mmhg: DiastolicMmHg


class SubmitIntakeForm(IntakeFormFields, ContractModel):
    """Command and request body (`PUT /patients/{id}/intake-form`): record the intake form."""

    submitted_at: ChartedTime | None = Field(
        default=None, description="When the form was filled in; default now."
    )


@registry.register
class IntakeFormSubmitted(IntakeEvent, IntakeFormFields):
    """The intake form was recorded (or replaced by a corrected one before intake completed)."""

    patient_id: UUID = Field(description="Pseudonymous patient id.")


# ---------------------------------------------------------------------------------------------
# Assessments

CSSRS_QUESTIONS = ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q6b")


class RecordAssessment(ContractModel):
    """Command and request body (`POST /patients/{id}/assessments`): a questionnaire's answers.

    PHQ9: 9 answers 0-3; GAD7: 7 answers 0-3; PCL5: 20 answers 0-4. CSSRS: 7 answers, true/false
    for Q1-Q6 and Q6b ("within the past 3 months"); Q3-Q5 are null unless Q2 is true, Q6b is null
    unless Q6 is true. The service scores the answers; a client's total is never trusted.
    """

    instrument: Instrument = Field(description="Which questionnaire.")
    answers: list[int | bool | None] = Field(description="Item answers, in item order.")
    administered_at: ChartedTime | None = Field(
        default=None, description="When it was answered; default now."
    )

    @field_validator("answers")
    @classmethod
    def _answers_fit_the_instrument(
        cls, answers: list[int | bool | None], info: ValidationInfo
    ) -> list[int | bool | None]:
        instrument = info.data.get("instrument")
        if instrument is None:
            return answers
        if instrument is Instrument.CSSRS:
            _check_cssrs(answers)
            return answers
        count, high = SCORED_ITEMS[instrument]
        low = 0
        if len(answers) != count:
            raise ValueError(
                f"{instrument} needs {count} answers, each {low}-{high}; got {len(answers)}"
            )
        for position, answer in enumerate(answers, start=1):
            if isinstance(answer, bool) or not isinstance(answer, int) or not low <= answer <= high:
                allowed = f"{instrument} answers are whole numbers {low}-{high}"
                raise ValueError(f"item {position} is {answer!r}; {allowed}")
        return answers


def _check_cssrs(answers: list[int | bool | None]) -> None:
    if len(answers) != len(CSSRS_QUESTIONS):
        expected = f"{len(CSSRS_QUESTIONS)} answers ({', '.join(CSSRS_QUESTIONS)})"
        raise ValueError(f"CSSRS needs {expected}; got {len(answers)}")
    q1, q2, q3, q4, q5, q6, q6b = answers
    for name, answer in (("Q1", q1), ("Q2", q2), ("Q6", q6)):
        if not isinstance(answer, bool):
            raise ValueError(f"{name} must be true or false, not {answer!r}")
    for name, answer in (("Q3", q3), ("Q4", q4), ("Q5", q5)):
        if q2 and not isinstance(answer, bool):
            raise ValueError(f"{name} must be true or false when Q2 is yes, not {answer!r}")
        if not q2 and answer is not None:
            raise ValueError(
                f"{name} is asked only when Q2 is yes; Q2 is no, so {name} must be null"
            )
    if q6 and not isinstance(q6b, bool):
        raise ValueError("Q6b (within the past 3 months) must be true or false when Q6 is yes")
    if not q6 and q6b is not None:
        raise ValueError("Q6b is asked only when Q6 is yes; Q6 is no, so Q6b must be null")


class Pcl5Clusters(ValueObject):
    """PCL-5 DSM-5 cluster rule: an item scored >= 2 is endorsed; B needs 1 of items 1-5,
    C 1 of 6-7, D 2 of 8-14, E 2 of 15-20."""

    intrusion_b: int = Field(ge=0, le=5, description="Endorsed items in cluster B (items 1-5).")
    avoidance_c: int = Field(ge=0, le=2, description="Endorsed items in cluster C (items 6-7).")
    cognition_mood_d: int = Field(
        ge=0, le=7, description="Endorsed items in cluster D (items 8-14)."
    )
    arousal_e: int = Field(ge=0, le=6, description="Endorsed items in cluster E (items 15-20).")
    meets_dsm5_cluster_rule: bool = Field(description="B >= 1, C >= 1, D >= 2 and E >= 2.")


@registry.register
class AssessmentScored(IntakeEvent):
    """A PHQ-9, GAD-7 or PCL-5 was scored by the service from its item answers."""

    clinical_time_field = "administered_at"

    patient_id: UUID = Field(description="Pseudonymous patient id.")
    instrument: Instrument = Field(description="PHQ9, GAD7 or PCL5.")
    item_scores: list[int] = Field(description="Item answers as given, in item order.")
    total: int = Field(ge=0, le=80, description="Sum of the item scores, computed by the service.")
    band: SeverityBand | None = Field(description="Severity band (PHQ-9, GAD-7); null for PCL-5.")
    pcl5_clusters: Pcl5Clusters | None = Field(
        default=None, description="PCL-5 only: the cluster rule."
    )
    provisional_ptsd: bool | None = Field(
        default=None, description="PCL-5 only: total >= the policy threshold."
    )
    pcl5_threshold: int | None = Field(
        default=None, ge=0, le=80, description="PCL-5 only: the threshold used."
    )
    administered_at: AwareDatetime = Field(description="When the questionnaire was answered.")
    policy_version: PolicyVersion


class CssrsAnswers(ValueObject):
    """C-SSRS screener answers; null = not asked."""

    wish_to_be_dead_q1: bool
    suicidal_thoughts_q2: bool
    thoughts_with_method_q3: bool | None
    intent_q4: bool | None
    plan_q5: bool | None
    suicidal_behaviour_q6: bool
    behaviour_within_3_months_q6b: bool | None


@registry.register
class SuicideRiskScreened(IntakeEvent):
    """The C-SSRS screener was answered and its risk level determined."""

    clinical_time_field = "administered_at"

    patient_id: UUID = Field(description="Pseudonymous patient id.")
    answers: CssrsAnswers
    risk: SuicideRisk = Field(
        description="High: Q4, Q5 or Q6 within 3 months; moderate: Q3 or Q6 earlier."
    )
    administered_at: AwareDatetime = Field(description="When the screener was answered.")
    policy_version: PolicyVersion


class SuicidalitySource(StrEnum):
    """What raised a suicidality flag."""

    PHQ9_ITEM_9 = "phq9_item_9"
    CSSRS_HIGH_RISK = "cssrs_high_risk"


@registry.register
class SuicidalityFlagRaised(IntakeEvent):
    """An answer needs same-day clinician follow-up (PHQ-9 item 9 > 0, or high C-SSRS risk)."""

    patient_id: UUID = Field(description="Pseudonymous patient id.")
    source: SuicidalitySource = Field(description="What raised the flag.")
    detail: str = Field(max_length=200, description="The finding, e.g. `PHQ-9 item 9 = 2`.")
    follow_up_due_by: AwareDatetime = Field(
        description="End of the day the answer was given (UTC)."
    )
    instrument: Instrument = Field(
        description="The questionnaire whose answer raised it (PHQ9 or CSSRS)."
    )
    policy_version: PolicyVersion


# ---------------------------------------------------------------------------------------------
# Consent


class GiveConsent(ContractModel):
    """Command and request body (`POST /patients/{id}/consents`): informed consent to KAP."""

    consent_version: Annotated[str, Field(min_length=1, max_length=50)] = Field(
        description="Version of the consent text the patient agreed to."
    )
    consent_text_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of that consent text."
    )
    given_at: ChartedTime | None = Field(
        default=None, description="When consent was given; default now."
    )


class WithdrawConsent(ContractModel):
    """Command and request body (`POST /patients/{id}/consents/withdrawal`)."""

    withdrawn_at: ChartedTime | None = Field(
        default=None, description="When it was withdrawn; default now."
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Reason, if the patient gave one (PHI)."
    )


@registry.register
class ConsentGiven(IntakeEvent):
    """The patient gave informed consent to KAP under a versioned consent text."""

    clinical_time_field = "given_at"

    patient_id: UUID = Field(description="Pseudonymous patient id.")
    consent_version: str = Field(description="Version of the consent text.")
    consent_text_sha256: str = Field(description="SHA-256 of the consent text.")
    given_at: AwareDatetime = Field(description="When consent was given.")


@registry.register
class ConsentWithdrawn(IntakeEvent):
    """The patient withdrew consent: no further dosing."""

    clinical_time_field = "withdrawn_at"

    patient_id: UUID = Field(description="Pseudonymous patient id.")
    withdrawn_at: AwareDatetime = Field(description="When consent was withdrawn.")
    reason: str | None = Field(default=None, description="Reason given (PHI).")


# ---------------------------------------------------------------------------------------------
# Completion


@registry.register
class IntakeCompleted(IntakeEvent):
    """Form, baseline assessments and consent are all present: the clinical summary eligibility
    screens. No names, birth date or contact details: age in years instead."""

    clinical_time_field = "completed_at"

    patient_id: UUID = Field(description="Pseudonymous patient id.")
    completed_at: AwareDatetime = Field(description="When intake became complete.")
    age_years: int = Field(
        ge=0, le=130, description="Age at completion (years).", json_schema_extra={"unit": "years"}
    )
    referral_reason: ReferralReason
    diagnoses: list[str] = Field(description="Current diagnoses.")
    medical_history: MedicalHistory
    substance_use: SubstanceUse
    antidepressant_trials: list[AntidepressantTrial]
    resting_systolic_mmhg: SystolicMmHg
    resting_diastolic_mmhg: DiastolicMmHg
    phq9_total: int = Field(ge=0, le=27, description="Baseline PHQ-9 total.")
    phq9_item9: int = Field(
        ge=0, le=3, description="Baseline PHQ-9 item 9 (thoughts of self-harm)."
    )
    gad7_total: int | None = Field(
        default=None, ge=0, le=21, description="Baseline GAD-7 total, if taken."
    )
    pcl5_total: int | None = Field(
        default=None, ge=0, le=80, description="Baseline PCL-5 total, if taken."
    )
    pcl5_meets_dsm5_cluster_rule: bool | None = Field(
        default=None, description="PCL-5 cluster rule, if taken."
    )
    cssrs_risk: SuicideRisk = Field(description="C-SSRS screener risk level.")
    consent_version: str = Field(description="Version of the consent text relied on.")
    consent_given_at: AwareDatetime = Field(description="When the consent relied on was given.")
