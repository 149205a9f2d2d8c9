"""Events of the intake context (`carepath.intake.events`), current versions: referral, intake
form, scored assessments, consent, and the completion that hands the patient to eligibility.
Superseded versions and their upcasters go in `versions`."""

from pydantic import AwareDatetime, Field

from carepath.contracts.common import (
    DiastolicMmHg,
    Instrument,
    PatientId,
    PolicyVersion,
    SeverityBand,
    SuicideRisk,
    SystolicMmHg,
)
from carepath.contracts.events import DomainEvent, registry
from carepath.contracts.intake.types import (
    AntidepressantTrial,
    CssrsAnswers,
    ErasureGround,
    IntakeFormFields,
    IntakePatientId,
    MedicalHistory,
    Pcl5Clusters,
    ReferralDetails,
    ReferralReason,
    RequestReference,
    SubstanceUse,
    SuicidalitySource,
)
from carepath.contracts.privacy import FREE_TEXT


class IntakeEvent(DomainEvent):
    """Base of the intake context's events."""

    context = "intake"


@registry.register
class PatientReferred(IntakeEvent, ReferralDetails):
    """A referral was received and the patient's record opened. Carries personal data (PHI)."""

    version = 2  # v2: its identifying and free-text fields sealed

    patient_id: PatientId


@registry.register
class IntakeFormSubmitted(IntakeEvent, IntakeFormFields):
    """The intake form was recorded (or replaced by a corrected one before intake completed)."""

    patient_id: IntakePatientId


@registry.register
class AssessmentScored(IntakeEvent):
    """A PHQ-9, GAD-7, PCL-5 or pain NRS was scored by the service from its item answers."""

    clinical_time_field = "administered_at"

    patient_id: IntakePatientId
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


@registry.register
class SuicideRiskScreened(IntakeEvent):
    """The C-SSRS screener was answered and its risk level determined."""

    clinical_time_field = "administered_at"

    patient_id: IntakePatientId
    answers: CssrsAnswers
    risk: SuicideRisk = Field(
        description="High: Q4, Q5 or Q6 within 3 months; moderate: Q3 or Q6 earlier."
    )
    administered_at: AwareDatetime = Field(description="When the screener was answered.")
    policy_version: PolicyVersion


@registry.register
class SuicidalityFlagRaised(IntakeEvent):
    """An answer needs same-day clinician follow-up (PHQ-9 item 9 > 0, or high C-SSRS risk)."""

    patient_id: IntakePatientId
    source: SuicidalitySource = Field(description="What raised the flag.")
    detail: str = Field(max_length=200, description="The finding, e.g. `PHQ-9 item 9 = 2`.")
    follow_up_due_by: AwareDatetime = Field(
        description="End of the day the answer was given (UTC)."
    )
    instrument: Instrument = Field(
        description="The questionnaire whose answer raised it (PHQ9 or CSSRS)."
    )
    policy_version: PolicyVersion


@registry.register
class ConsentGiven(IntakeEvent):
    """The patient gave informed consent to KAP under a versioned consent text."""

    clinical_time_field = "given_at"

    patient_id: IntakePatientId
    consent_version: str = Field(description="Version of the consent text.")
    consent_text_sha256: str = Field(description="SHA-256 of the consent text.")
    given_at: AwareDatetime = Field(description="When consent was given.")


@registry.register
class ConsentWithdrawn(IntakeEvent):
    """The patient withdrew consent: no further dosing."""

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "withdrawn_at"

    patient_id: IntakePatientId
    withdrawn_at: AwareDatetime = Field(description="When consent was withdrawn.")
    reason: str | None = Field(
        json_schema_extra=FREE_TEXT, default=None, description="Reason given (PHI)."
    )


@registry.register
class IntakeCompleted(IntakeEvent):
    """Form, baseline assessments and consent are all present: the clinical summary eligibility
    screens. No names, birth date or contact details: age in years instead."""

    clinical_time_field = "completed_at"

    patient_id: IntakePatientId
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
    pain_nrs_total: int | None = Field(
        default=None,
        ge=0,
        le=10,
        description="Baseline pain intensity on the 0-10 Numeric Rating Scale, if taken.",
    )
    policy_version: PolicyVersion | None = Field(
        default=None,
        description="Version of the intake policy that judged intake complete (which baseline "
        "assessments the referral reason needs); absent in events recorded before 2026-11.",
    )


@registry.register
class ErasureRecorded(IntakeEvent):
    """The patient's data key was destroyed: every identifying and free-text field of theirs, on
    every topic and in every copy, is unreadable from now on. Who did it is the event's `actor`.
    Carries no personal data; the pathway's plain facts (scores, doses, times) remain."""

    clinical_time_field = "erased_at"

    patient_id: IntakePatientId
    erased_at: AwareDatetime = Field(description="When the key was destroyed.")
    ground: ErasureGround = Field(description="Why the data was erased.")
    request_reference: RequestReference
