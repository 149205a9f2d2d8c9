"""Value types of the intake context: referral reasons, the medical-history checklist, substance
use, antidepressant trials, questionnaire results, and the field groups a command shares with
the event that records it (`ReferralDetails`, `IntakeFormFields`)."""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from carepath.contracts.common import (
    ChartedTimeAsRecorded,
    DiastolicMmHg,
    Instrument,
    PatientId,
    PolicyVersion,
    ShortText,
    SystolicMmHg,
    ValueObject,
    measured,
)
from carepath.contracts.privacy import IDENTIFYING

IntakePatientId = Annotated[PatientId, Field(description="Pseudonymous patient id.")]
"""`PatientId` with the shorter description that intake's events after `PatientReferred` were
published with; a published schema is kept as it is, so they keep it."""

EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)


class ReferralReason(StrEnum):
    """Why the patient was referred; decides which assessments intake asks for."""

    DEPRESSION = "depression"
    PTSD = "ptsd"
    ANXIETY = "anxiety"
    CHRONIC_PAIN = "chronic_pain"


class ReferralDetails(BaseModel):
    """What a referral says about the patient. Personal data (PHI): names, birth date, contact."""

    given_name: str = Field(
        min_length=1, max_length=100, description="Given name (PHI).", json_schema_extra=IDENTIFYING
    )
    family_name: str = Field(
        min_length=1,
        max_length=100,
        description="Family name (PHI).",
        json_schema_extra=IDENTIFYING,
    )
    date_of_birth: date = Field(
        description="Date of birth (PHI), ISO 8601 date, not in the future.",
        json_schema_extra=IDENTIFYING,
    )
    referral_reason: ReferralReason = Field(description="Why the patient was referred.")
    referrer: str = Field(
        min_length=1,
        max_length=200,
        description="Referring clinician or organisation.",
        json_schema_extra=IDENTIFYING,
    )
    contact: str | None = Field(
        default=None,
        max_length=200,
        description="Phone or e-mail for the patient (PHI).",
        json_schema_extra=IDENTIFYING,
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


class ErasureGround(StrEnum):
    """Why a patient's identifying and free-text data was erased."""

    DATA_SUBJECT_REQUEST = "data_subject_request"  # GDPR art. 17, a state privacy law
    CONSENT_WITHDRAWN = "consent_withdrawn"  # a withdrawal of consent that asks for erasure
    ENTERED_IN_ERROR = "entered_in_error"  # the record was opened for the wrong person
    LEGAL_OBLIGATION = "legal_obligation"  # a court order or a regulator's instruction


RequestReference = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$",
        description="The clinic's reference of the erasure request (a ticket number; never a "
        "name or any other personal data).",
    ),
]


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


CSSRS_QUESTIONS = ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q6b")


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


class CssrsAnswers(ValueObject):
    """C-SSRS screener answers; null = not asked."""

    wish_to_be_dead_q1: bool
    suicidal_thoughts_q2: bool
    thoughts_with_method_q3: bool | None
    intent_q4: bool | None
    plan_q5: bool | None
    suicidal_behaviour_q6: bool
    behaviour_within_3_months_q6b: bool | None


class SuicidalitySource(StrEnum):
    """What raised a suicidality flag."""

    PHQ9_ITEM_9 = "phq9_item_9"
    CSSRS_HIGH_RISK = "cssrs_high_risk"


class SuicidalityFinding(BaseModel):
    """What every `SuicidalityFlagRaised` raised after intake carries (before a dose, on an
    outcome measure): the finding, when it was answered, and when follow-up is due. Each
    context's event adds where it was found."""

    source: SuicidalitySource = Field(description="What raised the flag.")
    instrument: Instrument = Field(description="The questionnaire whose answer raised it.")
    detail: str = Field(max_length=200, description="The finding, e.g. `PHQ-9 item 9 = 2`.")
    measured_at: ChartedTimeAsRecorded = Field(description="When the PHQ-9 was answered.")
    follow_up_due_by: AwareDatetime = Field(
        description="End of the day the answer was given, in the offset it was charted with."
    )
    policy_version: PolicyVersion
