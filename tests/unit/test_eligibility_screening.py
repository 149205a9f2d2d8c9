"""Table-driven tests of the screening rules (the shipped clinic policy) and the screening decider."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from carepath.chassis.errors import InvalidField, NotFound, RuleViolation
from carepath.contracts.eligibility import (
    EligibilityDetermined,
    EligibilityOutcome,
    ReviewDecision,
    RuleKind,
)
from carepath.contracts.intake import IntakeCompleted
from carepath.eligibility.clinic_policy import load_policy
from carepath.eligibility.domain import (
    CloseScreening,
    ReviewScreening,
    ScreeningStatus,
    StartScreening,
    determine_eligibility,
    screening_decider,
)

POLICY = load_policy()
DECIDER = screening_decider(POLICY)
PATIENT = UUID("0d9f1a7e-2b3c-4d5e-8f90-a1b2c3d4e5f6")
TRIAL = {
    "drug": "sertraline",
    "daily_dose_mg": 150,
    "weeks": 8,
    "adequate_dose": True,
    "response": "none",
    "current_episode": True,
}
HISTORY = {
    name: False
    for name in (
        "aneurysmal_vascular_disease",
        "arteriovenous_malformation",
        "intracerebral_haemorrhage",
        "ketamine_hypersensitivity",
        "psychosis_history",
        "uncontrolled_hypertension",
        "cardiovascular_disease",
        "cerebrovascular_disease",
        "hypertensive_encephalopathy",
        "raised_intracranial_pressure",
        "raised_intraocular_pressure",
        "pregnant_or_breastfeeding",
        "interstitial_cystitis",
        "dementia_or_brain_injury",
    )
}
ELIGIBLE_TRD: dict[str, Any] = {
    "patient_id": str(PATIENT),
    "completed_at": "2026-11-25T10:00:00Z",
    "age_years": 40,
    "referral_reason": "depression",
    "diagnoses": ["MDD"],
    "medical_history": {**HISTORY, "hepatic_impairment": "none"},
    "substance_use": {"substances": [], "substance_use_disorder": False, "months_abstinent": None},
    "antidepressant_trials": [TRIAL, {**TRIAL, "drug": "venlafaxine", "response": "partial"}],
    "resting_systolic_mmhg": 124,
    "resting_diastolic_mmhg": 78,
    "phq9_total": 18,
    "phq9_item9": 0,
    "cssrs_risk": "none",
    "consent_version": "kap-consent-3.2",
    "consent_given_at": "2026-11-24T09:00:00Z",
}


def intake(**changes: Any) -> IntakeCompleted:
    """The eligible TRD patient with some fields changed (dotted keys reach into nested ones)."""
    data = {
        key: (dict(value) if isinstance(value, dict) else value)
        for key, value in ELIGIBLE_TRD.items()
    }
    for key, value in changes.items():
        head, _, rest = key.partition("__")
        if rest:
            data[head][rest] = value
        else:
            data[head] = value
    return IntakeCompleted.model_validate(data)


def screen(**changes: Any) -> EligibilityDetermined:
    return determine_eligibility(intake(**changes), POLICY)


def fired(result: EligibilityDetermined) -> set[str]:
    return {finding.rule_id for finding in result.findings}


def test_the_baseline_patient_is_eligible_for_treatment_resistant_depression() -> None:
    result = screen()
    assert result.outcome is EligibilityOutcome.ELIGIBLE
    assert result.indication == "treatment_resistant_depression"
    assert fired(result) == {"indication.treatment_resistant_depression"}
    assert result.policy_version == POLICY.version


HARD_STOPS = [
    (
        "hard_stop.aneurysmal_vascular_disease",
        {"medical_history__aneurysmal_vascular_disease": True},
    ),
    ("hard_stop.arteriovenous_malformation", {"medical_history__arteriovenous_malformation": True}),
    ("hard_stop.intracerebral_haemorrhage", {"medical_history__intracerebral_haemorrhage": True}),
    ("hard_stop.ketamine_hypersensitivity", {"medical_history__ketamine_hypersensitivity": True}),
    ("hard_stop.age_under_18", {"age_years": 17}),
]


@pytest.mark.parametrize("rule, changes", HARD_STOPS, ids=[r for r, _ in HARD_STOPS])
def test_every_hard_stop_makes_the_patient_ineligible(rule: str, changes: dict[str, Any]) -> None:
    result = screen(**changes)
    assert result.outcome is EligibilityOutcome.INELIGIBLE
    assert rule in fired(result)
    [finding] = [f for f in result.findings if f.rule_id == rule]
    assert finding.kind is RuleKind.HARD_STOP and finding.evidence


RELATIVE = [
    ("relative_contraindication.psychosis", {"medical_history__psychosis_history": True}),
    (
        "relative_contraindication.active_substance_use_disorder",
        {"substance_use__substance_use_disorder": True, "substance_use__months_abstinent": 11},
    ),
    (
        "relative_contraindication.active_substance_use_disorder",
        {"substance_use__substance_use_disorder": True},
    ),
    (
        "relative_contraindication.hypertension",
        {"medical_history__uncontrolled_hypertension": True},
    ),
    ("relative_contraindication.hypertension", {"resting_systolic_mmhg": 141}),
    ("relative_contraindication.hypertension", {"resting_diastolic_mmhg": 91}),
    (
        "relative_contraindication.cardiovascular_or_cerebrovascular_disease",
        {"medical_history__cardiovascular_disease": True},
    ),
    (
        "relative_contraindication.cardiovascular_or_cerebrovascular_disease",
        {"medical_history__cerebrovascular_disease": True},
    ),
    (
        "relative_contraindication.hypertensive_encephalopathy",
        {"medical_history__hypertensive_encephalopathy": True},
    ),
    (
        "relative_contraindication.raised_intracranial_or_intraocular_pressure",
        {"medical_history__raised_intracranial_pressure": True},
    ),
    (
        "relative_contraindication.raised_intracranial_or_intraocular_pressure",
        {"medical_history__raised_intraocular_pressure": True},
    ),
    (
        "relative_contraindication.hepatic_impairment",
        {"medical_history__hepatic_impairment": "moderate"},
    ),
    (
        "relative_contraindication.hepatic_impairment",
        {"medical_history__hepatic_impairment": "severe"},
    ),
    (
        "relative_contraindication.pregnancy_or_breastfeeding",
        {"medical_history__pregnant_or_breastfeeding": True},
    ),
    (
        "relative_contraindication.interstitial_cystitis",
        {"medical_history__interstitial_cystitis": True},
    ),
    ("relative_contraindication.high_suicide_risk", {"cssrs_risk": "high"}),
    (
        "relative_contraindication.dementia_or_brain_injury",
        {"medical_history__dementia_or_brain_injury": True},
    ),
]


@pytest.mark.parametrize(
    "rule, changes", RELATIVE, ids=[f"{r}-{i}" for i, (r, _) in enumerate(RELATIVE)]
)
def test_every_relative_contraindication_needs_review(rule: str, changes: dict[str, Any]) -> None:
    result = screen(**changes)
    assert result.outcome is EligibilityOutcome.NEEDS_REVIEW
    assert fired(result) == {rule, "indication.treatment_resistant_depression"}


def test_every_rule_of_the_policy_is_covered_by_these_tables() -> None:
    covered = {rule for rule, _ in HARD_STOPS + RELATIVE} | {r for r, _ in INDICATIONS}
    assert covered == {rule.id for rule in POLICY.rules}


@pytest.mark.parametrize(
    "changes, outcome",
    [
        ({"resting_systolic_mmhg": 140, "resting_diastolic_mmhg": 90}, EligibilityOutcome.ELIGIBLE),
        (
            {"resting_systolic_mmhg": 141, "resting_diastolic_mmhg": 91},
            EligibilityOutcome.NEEDS_REVIEW,
        ),
        ({"age_years": 18}, EligibilityOutcome.ELIGIBLE),
        ({"age_years": 17}, EligibilityOutcome.INELIGIBLE),
        (
            {"substance_use__substance_use_disorder": True, "substance_use__months_abstinent": 12},
            EligibilityOutcome.ELIGIBLE,
        ),
        (
            {"substance_use__substance_use_disorder": True, "substance_use__months_abstinent": 11},
            EligibilityOutcome.NEEDS_REVIEW,
        ),
        ({"medical_history__hepatic_impairment": "mild"}, EligibilityOutcome.ELIGIBLE),
        ({"cssrs_risk": "moderate"}, EligibilityOutcome.ELIGIBLE),
    ],
    ids=[
        "bp-140/90",
        "bp-141/91",
        "age-18",
        "age-17",
        "abstinent-12-months",
        "abstinent-11-months",
        "hepatic-mild",
        "cssrs-moderate",
    ],
)
def test_boundaries(changes: dict[str, Any], outcome: EligibilityOutcome) -> None:
    assert screen(**changes).outcome is outcome


def test_bp_evidence_names_the_field_value_and_threshold() -> None:
    [finding] = [
        f
        for f in screen(resting_systolic_mmhg=152).findings
        if f.kind is RuleKind.RELATIVE_CONTRAINDICATION
    ]
    [evidence] = finding.evidence
    assert (evidence.field, evidence.value, evidence.threshold, evidence.unit) == (
        "resting_systolic_mmhg",
        152,
        "> 140",
        "mmHg",
    )


INDICATIONS = [
    ("indication.treatment_resistant_depression", {}),
    ("indication.ptsd", {"referral_reason": "ptsd", "pcl5_total": 33}),
    ("indication.anxiety", {"referral_reason": "anxiety", "gad7_total": 10}),
    ("indication.chronic_pain", {"referral_reason": "chronic_pain"}),
]


@pytest.mark.parametrize("rule, changes", INDICATIONS, ids=[r for r, _ in INDICATIONS])
def test_every_indication_makes_an_otherwise_clear_patient_eligible(
    rule: str, changes: dict[str, Any]
) -> None:
    result = screen(**changes)
    assert result.outcome is EligibilityOutcome.ELIGIBLE and fired(result) == {rule}


@pytest.mark.parametrize(
    "changes, looked_at",
    [
        ({"antidepressant_trials": [TRIAL]}, ("antidepressant_trials", 1)),
        ({"antidepressant_trials": [TRIAL, {**TRIAL, "weeks": 5}]}, ("antidepressant_trials", 1)),
        (
            {"antidepressant_trials": [TRIAL, {**TRIAL, "adequate_dose": False}]},
            ("antidepressant_trials", 1),
        ),
        (
            {"antidepressant_trials": [TRIAL, {**TRIAL, "response": "full"}]},
            ("antidepressant_trials", 1),
        ),
        (
            {"antidepressant_trials": [TRIAL, {**TRIAL, "current_episode": False}]},
            ("antidepressant_trials", 1),
        ),
        ({"referral_reason": "ptsd", "pcl5_total": 32}, ("pcl5_total", 32)),
        ({"referral_reason": "anxiety", "gad7_total": 9}, ("gad7_total", 9)),
        ({"referral_reason": "anxiety", "gad7_total": None}, ("gad7_total", None)),
    ],
    ids=[
        "one-failed-trial",
        "trial-under-6-weeks",
        "inadequate-dose",
        "full-response",
        "earlier-episode",
        "pcl5-32",
        "gad7-9",
        "gad7-missing",
    ],
)
def test_without_an_indication_the_patient_is_ineligible_saying_why(
    changes: dict[str, Any], looked_at: tuple[str, Any]
) -> None:
    result = screen(**changes)
    assert result.outcome is EligibilityOutcome.INELIGIBLE and result.indication is None
    [finding] = [f for f in result.findings if f.kind is RuleKind.NO_INDICATION]
    assert (looked_at[0], looked_at[1]) in {(e.field, e.value) for e in finding.evidence}


def test_a_hard_stop_with_a_relative_flag_is_ineligible_listing_both() -> None:
    result = screen(age_years=17, medical_history__psychosis_history=True)
    assert result.outcome is EligibilityOutcome.INELIGIBLE
    assert {"hard_stop.age_under_18", "relative_contraindication.psychosis"} <= fired(result)


def test_several_relative_flags_need_one_review_listing_all() -> None:
    result = screen(
        medical_history__psychosis_history=True, cssrs_risk="high", resting_systolic_mmhg=150
    )
    assert result.outcome is EligibilityOutcome.NEEDS_REVIEW
    assert len([f for f in result.findings if f.kind is RuleKind.RELATIVE_CONTRAINDICATION]) == 3


def test_no_indication_and_a_relative_flag_is_ineligible() -> None:
    result = screen(antidepressant_trials=[], medical_history__psychosis_history=True)
    assert result.outcome is EligibilityOutcome.INELIGIBLE


# --- the decider: start, review, close -----------------------------------------------------------


def started(**changes: Any):  # type: ignore[no-untyped-def]
    events = DECIDER.decide(
        DECIDER.initial_state, StartScreening(intake=intake(**changes), intake_event_id=uuid4())
    )
    return DECIDER.fold(events), events


def test_intake_completed_starts_screening_and_decides_at_once() -> None:
    _state, events = started()
    assert [type(e).__name__ for e in events] == ["ScreeningStarted", "EligibilityDetermined"]


def test_a_second_start_decides_nothing() -> None:
    state, _ = started()
    assert DECIDER.decide(state, StartScreening(intake=intake(), intake_event_id=uuid4())) == []


def review(decision: str, reviewed_at: datetime | None = None) -> ReviewScreening:
    return ReviewScreening(
        decision=ReviewDecision(decision),
        rationale="Discussed with the patient and GP today.",
        determination_event_id=uuid4(),
        now=datetime.now(UTC),
        reviewed_at=reviewed_at,
    )


def test_the_screening_happened_clinically_when_intake_completed() -> None:
    completed_at = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
    _state, events = started(completed_at=completed_at.isoformat())
    assert [event.occurred_at for event in events] == [completed_at, completed_at]


def test_a_review_charted_days_later_happened_then() -> None:
    state, _ = started(
        completed_at="2026-03-02T15:30:00+00:00", medical_history__psychosis_history=True
    )
    reviewed_at = datetime(2026, 3, 5, 10, tzinfo=UTC)
    [reviewed] = DECIDER.decide(state, review("approve", reviewed_at))
    assert reviewed.occurred_at == reviewed_at


def test_a_review_charted_before_the_screening_result_is_refused_naming_the_field() -> None:
    state, _ = started(
        completed_at="2026-03-02T15:30:00+00:00", medical_history__psychosis_history=True
    )
    with pytest.raises(InvalidField, match=r"reviewed_at.*before the screening result"):
        DECIDER.decide(state, review("approve", datetime(2026, 3, 1, tzinfo=UTC)))


def test_a_review_charted_in_the_future_is_refused() -> None:
    state, _ = started(medical_history__psychosis_history=True)
    with pytest.raises(InvalidField, match=r"reviewed_at.*future"):
        DECIDER.decide(state, review("approve", datetime.now(UTC) + timedelta(days=1)))


def test_a_clinician_approves_a_needs_review_patient_as_a_separate_event() -> None:
    state, _ = started(medical_history__psychosis_history=True)
    [reviewed] = DECIDER.decide(state, review("approve"))
    after = DECIDER.fold_onto(state, [reviewed])
    assert reviewed.automatic_outcome is EligibilityOutcome.NEEDS_REVIEW  # type: ignore[attr-defined]
    assert after.determination == state.determination  # the automatic result is unchanged
    assert after.status is ScreeningStatus.REVIEWED


def test_approving_a_hard_stop_is_refused_naming_it() -> None:
    state, _ = started(medical_history__intracerebral_haemorrhage=True)
    with pytest.raises(RuleViolation, match=r"hard_stop\.intracerebral_haemorrhage"):
        DECIDER.decide(state, review("approve"))


def test_declining_a_hard_stop_is_allowed() -> None:
    state, _ = started(age_years=16)
    assert len(DECIDER.decide(state, review("decline"))) == 1


def test_a_second_review_is_refused() -> None:
    state, _ = started(medical_history__psychosis_history=True)
    state = DECIDER.fold_onto(state, DECIDER.decide(state, review("decline")))
    with pytest.raises(RuleViolation, match="already reviewed"):
        DECIDER.decide(state, review("approve"))


def test_reviewing_before_any_screening_is_not_found() -> None:
    with pytest.raises(NotFound):
        DECIDER.decide(DECIDER.initial_state, review("approve"))


def test_consent_withdrawn_closes_an_open_screening_once() -> None:
    state, _ = started(medical_history__psychosis_history=True)
    [closed] = DECIDER.decide(state, CloseScreening(patient_id=PATIENT))
    state = DECIDER.fold_onto(state, [closed])
    assert state.status is ScreeningStatus.CLOSED
    assert DECIDER.decide(state, CloseScreening(patient_id=PATIENT)) == []
    with pytest.raises(RuleViolation, match="closed"):
        DECIDER.decide(state, review("approve"))


def test_consent_withdrawn_before_screening_closes_nothing() -> None:
    assert DECIDER.decide(DECIDER.initial_state, CloseScreening(patient_id=PATIENT)) == []


def test_completed_at_is_not_needed_by_the_rules() -> None:
    assert (
        screen(completed_at=datetime(2020, 1, 1, tzinfo=UTC).isoformat()).outcome
        is EligibilityOutcome.ELIGIBLE
    )


@pytest.mark.parametrize("weeks, counts", [(6, True), (5, False)], ids=["6-weeks", "5-weeks"])
def test_a_trial_of_exactly_6_weeks_is_adequate_for_treatment_resistant_depression(
    weeks: int, counts: bool
) -> None:
    result = screen(antidepressant_trials=[TRIAL, {**TRIAL, "weeks": weeks}])
    assert ("indication.treatment_resistant_depression" in fired(result)) is counts
    assert (result.outcome is EligibilityOutcome.ELIGIBLE) is counts


def test_approving_a_patient_screened_ineligible_for_no_indication_follows_the_policy() -> None:
    state, _ = started(antidepressant_trials=[TRIAL])  # one failed trial: no TRD indication
    assert state.determination is not None
    assert state.determination.outcome is EligibilityOutcome.INELIGIBLE
    with pytest.raises(RuleViolation, match=r"no indication.*approve_without_indication"):
        DECIDER.decide(state, review("approve"))
    assert len(DECIDER.decide(state, review("decline"))) == 1
    permissive = screening_decider(POLICY.model_copy(update={"approve_without_indication": True}))
    [approved] = permissive.decide(state, review("approve"))
    assert approved.decision is ReviewDecision.APPROVE  # type: ignore[attr-defined]
    assert POLICY.approve_without_indication is False
