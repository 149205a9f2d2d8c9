"""Given/when/then helpers and sample requests for the intake decider."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import reduce
from uuid import UUID, uuid4

from carepath.contracts import DomainEvent
from carepath.contracts.intake import (
    AntidepressantTrial,
    GiveConsent,
    HepaticImpairment,
    MedicalHistory,
    RecordAssessment,
    ReferPatient,
    SubmitIntakeForm,
    SubstanceUse,
)
from carepath.intake.clinic_policy import load_policy
from carepath.intake.domain import IntakeCommand, IntakeState, Request, intake_decider

POLICY = load_policy()
DECIDER = intake_decider(POLICY)
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PATIENT = UUID("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")

NO_HISTORY = MedicalHistory(
    aneurysmal_vascular_disease=False,
    arteriovenous_malformation=False,
    intracerebral_haemorrhage=False,
    ketamine_hypersensitivity=False,
    psychosis_history=False,
    uncontrolled_hypertension=False,
    cardiovascular_disease=False,
    cerebrovascular_disease=False,
    hypertensive_encephalopathy=False,
    raised_intracranial_pressure=False,
    raised_intraocular_pressure=False,
    hepatic_impairment=HepaticImpairment.NONE,
    pregnant_or_breastfeeding=False,
    interstitial_cystitis=False,
    dementia_or_brain_injury=False,
)
FORM = SubmitIntakeForm(
    diagnoses=["major depressive disorder, recurrent"],
    medications=[],
    medical_history=NO_HISTORY,
    substance_use=SubstanceUse(substance_use_disorder=False),
    antidepressant_trials=[
        AntidepressantTrial(
            drug="sertraline", daily_dose_mg=150, weeks=8, adequate_dose=True, response="none"
        ),
        AntidepressantTrial(
            drug="venlafaxine", daily_dose_mg=225, weeks=10, adequate_dose=True, response="partial"
        ),
    ],
    resting_systolic_mmhg=124,
    resting_diastolic_mmhg=78,
)
CONSENT = GiveConsent(consent_version="kap-consent-3.2", consent_text_sha256="ab" * 32)
NO_CSSRS = RecordAssessment(
    instrument="CSSRS", answers=[False, False, None, None, None, False, None]
)


def refer(
    reason: str = "depression", patient_id: UUID = PATIENT, born: date = date(1980, 6, 15)
) -> ReferPatient:
    return ReferPatient(
        patient_id=patient_id,
        given_name="Ada",
        family_name="Byron",
        date_of_birth=born,
        referral_reason=reason,
        referrer="Dr Lee",
    )


def phq9(*items: int) -> RecordAssessment:
    return RecordAssessment(instrument="PHQ9", answers=list(items))


def phq9_total(total: int, item9: int = 0) -> RecordAssessment:
    """A PHQ-9 with the given total, item 9 as given, the rest spread over items 1-8."""
    rest, items = total - item9, []
    for _ in range(8):
        items.append(min(3, rest))
        rest -= items[-1]
    assert rest == 0, "total too high for item 9"
    return phq9(*items, item9)


def gad7_total(total: int) -> RecordAssessment:
    items, rest = [], total
    for _ in range(7):
        items.append(min(3, rest))
        rest -= items[-1]
    return RecordAssessment(instrument="GAD7", answers=items)


def pcl5(items: Sequence[int]) -> RecordAssessment:
    return RecordAssessment(instrument="PCL5", answers=list(items))


def cssrs(
    q1: bool,
    q2: bool,
    q3: bool | None = None,
    q4: bool | None = None,
    q5: bool | None = None,
    q6: bool = False,
    q6b: bool | None = None,
) -> RecordAssessment:
    return RecordAssessment(instrument="CSSRS", answers=[q1, q2, q3, q4, q5, q6, q6b])


def when(state: IntakeState, request: Request, now: datetime = NOW) -> list[DomainEvent]:
    return list(DECIDER.decide(state, IntakeCommand(request=request, now=now)))


def given(*requests: Request) -> IntakeState:
    """The state after each request was decided and its events applied, in order."""
    return reduce(
        lambda state, request: DECIDER.fold_onto(state, when(state, request)),
        requests,
        DECIDER.initial_state,
    )


def types(events: Sequence[DomainEvent]) -> list[str]:
    return [type(event).__name__ for event in events]


def new_patient() -> UUID:
    return uuid4()
