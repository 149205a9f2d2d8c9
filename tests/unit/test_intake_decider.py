"""Given/when/then for the intake decider: scoring boundaries, flags, consent, completion."""

from datetime import UTC, datetime, timedelta
from itertools import permutations
from zoneinfo import ZoneInfo

import pytest
from intake_fixtures import (
    CONSENT,
    DECIDER,
    FORM,
    NO_CSSRS,
    NOW,
    PATIENT,
    POLICY,
    cssrs,
    gad7_total,
    given,
    pcl5,
    phq9,
    phq9_total,
    refer,
    types,
    when,
)

from carepath.chassis.errors import InvalidField, NotFound, PatientErased, RuleViolation
from carepath.contracts.common import SeverityBand, SuicideRisk
from carepath.contracts.intake import (
    AssessmentScored,
    ErasePatientData,
    ErasureGround,
    ErasureRecorded,
    GiveConsent,
    IntakeCompleted,
    PatientReferred,
    RecordAssessment,
    SuicidalityFlagRaised,
    SuicideRiskScreened,
    WithdrawConsent,
)
from carepath.intake.domain import IntakeCommand, IntakeStatus, Request, age_on, intake_decider

# --- referral --------------------------------------------------------------------------------


def test_referring_a_new_patient_records_the_referral() -> None:
    [event] = when(given(), refer())
    assert isinstance(event, PatientReferred) and event.patient_id == PATIENT


def test_referring_the_same_patient_twice_is_refused() -> None:
    with pytest.raises(RuleViolation, match="already referred"):
        when(given(refer()), refer())


def test_a_form_for_an_unknown_patient_is_not_found() -> None:
    with pytest.raises(NotFound):
        when(given(), FORM)


# --- PHQ-9 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, band",
    [
        (0, SeverityBand.MINIMAL),
        (4, SeverityBand.MINIMAL),
        (5, SeverityBand.MILD),
        (9, SeverityBand.MILD),
        (10, SeverityBand.MODERATE),
        (14, SeverityBand.MODERATE),
        (15, SeverityBand.MODERATELY_SEVERE),
        (19, SeverityBand.MODERATELY_SEVERE),
        (20, SeverityBand.SEVERE),
        (24, SeverityBand.SEVERE),
    ],
)
def test_phq9_band_edges(total: int, band: SeverityBand) -> None:
    [scored] = when(given(refer()), phq9_total(total))
    assert isinstance(scored, AssessmentScored)
    assert (scored.total, scored.band) == (total, band)


def test_phq9_maximum_is_27_and_severe() -> None:
    scored, _flag = when(given(refer()), phq9(3, 3, 3, 3, 3, 3, 3, 3, 3))
    assert isinstance(scored, AssessmentScored) and (scored.total, scored.band) == (
        27,
        SeverityBand.SEVERE,
    )


def test_phq9_total_is_computed_from_the_items_in_order() -> None:
    [scored] = when(given(refer()), phq9(0, 1, 2, 3, 0, 1, 2, 3, 0))
    assert isinstance(scored, AssessmentScored)
    assert scored.item_scores == [0, 1, 2, 3, 0, 1, 2, 3, 0] and scored.total == 12
    assert scored.policy_version == POLICY.version


def test_the_item_9_threshold_is_the_clinic_policys() -> None:
    stricter = intake_decider(POLICY.model_copy(update={"phq9_item9_flag_above": 1}))
    state = stricter.fold(when(given(), refer()))
    for item9, flagged in ((1, False), (2, True)):
        command = IntakeCommand(request=phq9_total(12, item9=item9), now=NOW)
        assert ("SuicidalityFlagRaised" in types(stricter.decide(state, command))) is flagged


def test_phq9_item_9_of_zero_raises_no_flag() -> None:
    assert types(when(given(refer()), phq9_total(12, item9=0))) == ["AssessmentScored"]


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_phq9_item_9_above_zero_raises_a_same_day_suicidality_flag(item9: int) -> None:
    _scored, flag = when(given(refer()), phq9_total(12, item9=item9))
    assert isinstance(flag, SuicidalityFlagRaised)
    assert flag.source == "phq9_item_9" and flag.detail == f"PHQ-9 item 9 = {item9}"
    assert flag.follow_up_due_by.date() == NOW.date() and flag.follow_up_due_by > NOW


@pytest.mark.parametrize("charted_in_utc", [False, True])
def test_same_day_follow_up_is_due_by_the_end_of_the_clinics_day_not_the_utc_day(
    charted_in_utc: bool,
) -> None:
    los_angeles = ZoneInfo("America/Los_Angeles")
    evening = datetime(2026, 11, 24, 19, 0, tzinfo=los_angeles)  # 03:00 UTC on the 25th
    answers = phq9_total(12, item9=1)
    if charted_in_utc:  # as a browser's toISOString() sends it
        answers = answers.model_copy(update={"administered_at": evening.astimezone(UTC)})
    _scored, flag = when(given(refer()), answers, now=evening)
    assert isinstance(flag, SuicidalityFlagRaised)
    assert flag.follow_up_due_by == datetime(2026, 11, 24, 23, 59, 59, tzinfo=los_angeles)


# --- GAD-7 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, band",
    [
        (0, SeverityBand.MINIMAL),
        (4, SeverityBand.MINIMAL),
        (5, SeverityBand.MILD),
        (9, SeverityBand.MILD),
        (10, SeverityBand.MODERATE),
        (14, SeverityBand.MODERATE),
        (15, SeverityBand.SEVERE),
        (21, SeverityBand.SEVERE),
    ],
)
def test_gad7_band_edges(total: int, band: SeverityBand) -> None:
    [scored] = when(given(refer("anxiety")), gad7_total(total))
    assert isinstance(scored, AssessmentScored) and (scored.total, scored.band) == (total, band)


# --- PCL-5 -------------------------------------------------------------------------------------

ALL_CLUSTERS = [2, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]  # B1 C1 D2 E2, total 12


def test_pcl5_meeting_each_cluster_minimum_meets_the_dsm5_rule() -> None:
    [scored] = when(given(refer("ptsd")), pcl5(ALL_CLUSTERS))
    assert isinstance(scored, AssessmentScored) and scored.pcl5_clusters is not None
    clusters = scored.pcl5_clusters
    assert (
        clusters.intrusion_b,
        clusters.avoidance_c,
        clusters.cognition_mood_d,
        clusters.arousal_e,
    ) == (1, 1, 2, 2)
    assert clusters.meets_dsm5_cluster_rule
    assert scored.band is None and scored.total == 12


@pytest.mark.parametrize(
    "cluster, item_index",
    [("B (items 1-5)", 0), ("C (items 6-7)", 5), ("D (items 8-14)", 8), ("E (items 15-20)", 15)],
)
def test_pcl5_one_endorsed_item_short_in_any_cluster_fails_the_rule(
    cluster: str, item_index: int
) -> None:
    items = list(ALL_CLUSTERS)
    items[item_index] = 1  # scored 1: not endorsed (needs >= 2)
    [scored] = when(given(refer("ptsd")), pcl5(items))
    assert isinstance(scored, AssessmentScored) and scored.pcl5_clusters is not None
    assert not scored.pcl5_clusters.meets_dsm5_cluster_rule, cluster


@pytest.mark.parametrize("total, provisional", [(32, False), (33, True), (80, True)])
def test_pcl5_provisional_ptsd_at_the_policy_threshold(total: int, provisional: bool) -> None:
    items, rest = [], total
    for _ in range(20):
        items.append(min(4, rest))
        rest -= items[-1]
    [scored] = when(given(refer("ptsd")), pcl5(items))
    assert isinstance(scored, AssessmentScored)
    assert (scored.total, scored.provisional_ptsd, scored.pcl5_threshold) == (
        total,
        provisional,
        33,
    )


# --- C-SSRS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answers, risk",
    [
        (cssrs(False, False), SuicideRisk.NONE),
        (cssrs(True, False), SuicideRisk.LOW),
        (cssrs(False, True, False, False, False), SuicideRisk.LOW),
        (cssrs(True, True, True, False, False), SuicideRisk.MODERATE),
        (cssrs(True, True, False, True, False), SuicideRisk.HIGH),
        (cssrs(True, True, False, False, True), SuicideRisk.HIGH),
        (cssrs(False, False, q6=True, q6b=False), SuicideRisk.MODERATE),
        (cssrs(False, False, q6=True, q6b=True), SuicideRisk.HIGH),
    ],
    ids=["all-no", "Q1", "Q2-only", "Q3", "Q4", "Q5", "Q6-earlier", "Q6-within-3-months"],
)
def test_cssrs_paths_give_their_risk_level(answers: RecordAssessment, risk: SuicideRisk) -> None:
    events = when(given(refer()), answers)
    screened = events[0]
    assert isinstance(screened, SuicideRiskScreened) and screened.risk == risk
    assert (types(events) == ["SuicideRiskScreened", "SuicidalityFlagRaised"]) == (
        risk is SuicideRisk.HIGH
    )


def test_cssrs_follow_up_answered_when_q2_is_no_is_rejected_by_the_request() -> None:
    with pytest.raises(ValueError, match="Q3 is asked only when Q2 is yes"):
        cssrs(True, False, q3=True)


# --- consent -----------------------------------------------------------------------------------


def test_consent_is_recorded_with_its_version() -> None:
    [event] = when(given(refer()), CONSENT)
    assert event.consent_version == "kap-consent-3.2" and event.given_at == NOW  # type: ignore[attr-defined]


def test_consent_given_twice_is_refused() -> None:
    with pytest.raises(RuleViolation, match="already given"):
        when(given(refer(), CONSENT), CONSENT)


def test_consent_withdrawn_twice_is_refused() -> None:
    with pytest.raises(RuleViolation, match="already withdrawn"):
        when(given(refer(), CONSENT, WithdrawConsent()), WithdrawConsent())


def test_withdrawing_consent_never_given_is_refused() -> None:
    with pytest.raises(RuleViolation, match="no consent"):
        when(given(refer()), WithdrawConsent())


def test_a_charted_time_in_the_future_is_invalid_naming_the_field() -> None:
    with pytest.raises(InvalidField) as raised:
        when(
            given(refer()),
            GiveConsent(**{**CONSENT.model_dump(), "given_at": NOW + timedelta(hours=2)}),
        )
    assert raised.value.field == "given_at"


def test_a_charted_time_in_the_past_is_kept() -> None:
    earlier = NOW - timedelta(days=3)
    [event] = when(given(refer()), GiveConsent(**{**CONSENT.model_dump(), "given_at": earlier}))
    assert event.given_at == earlier  # type: ignore[attr-defined]


# --- completion --------------------------------------------------------------------------------

DEPRESSION_INTAKE = [FORM, phq9_total(16, item9=0), NO_CSSRS, CONSENT]


@pytest.mark.parametrize("order", list(permutations(range(4))), ids=lambda o: "-".join(map(str, o)))
def test_intake_completes_exactly_once_whatever_the_order(order: tuple[int, ...]) -> None:
    state = given(refer())
    completions = []
    for index in order:
        events = when(state, DEPRESSION_INTAKE[index])
        completions += [e for e in events if isinstance(e, IntakeCompleted)]
        state = DECIDER.fold_onto(state, events)
    assert len(completions) == 1
    assert state.status is IntakeStatus.COMPLETE


def test_the_last_missing_piece_completes_intake_with_the_clinical_summary() -> None:
    events = when(given(refer(), FORM, phq9_total(16, item9=0), NO_CSSRS), CONSENT)
    assert types(events) == ["ConsentGiven", "IntakeCompleted"]
    completed = events[1]
    assert isinstance(completed, IntakeCompleted)
    assert completed.age_years == 46 and completed.phq9_total == 16 and completed.phq9_item9 == 0
    assert (
        completed.cssrs_risk == SuicideRisk.NONE and completed.consent_version == "kap-consent-3.2"
    )
    assert len(completed.antidepressant_trials) == 2 and completed.gad7_total is None
    assert (
        "given_name" not in completed.model_dump() and "date_of_birth" not in completed.model_dump()
    )


def test_ptsd_intake_waits_for_the_pcl5() -> None:
    state = given(refer("ptsd"), *DEPRESSION_INTAKE)
    assert state.status is IntakeStatus.IN_PROGRESS
    assert state.missing(POLICY) == ["PCL5 assessment"]
    assert types(when(state, pcl5(ALL_CLUSTERS))) == ["AssessmentScored", "IntakeCompleted"]


def test_anxiety_intake_waits_for_the_gad7() -> None:
    state = given(refer("anxiety"), *DEPRESSION_INTAKE)
    assert state.missing(POLICY) == ["GAD7 assessment"]
    assert types(when(state, gad7_total(12))) == ["AssessmentScored", "IntakeCompleted"]


def test_withdrawn_consent_does_not_count_towards_completion() -> None:
    state = given(refer(), FORM, CONSENT, WithdrawConsent(), phq9_total(10))
    assert types(when(state, NO_CSSRS)) == ["SuicideRiskScreened"]
    assert state.missing(POLICY) == ["CSSRS assessment", "consent"]


def test_a_form_after_completion_is_refused() -> None:
    with pytest.raises(RuleViolation, match="intake was completed"):
        when(given(refer(), *DEPRESSION_INTAKE), FORM)


def test_consent_can_still_be_withdrawn_after_completion() -> None:
    assert types(when(given(refer(), *DEPRESSION_INTAKE), WithdrawConsent())) == [
        "ConsentWithdrawn"
    ]


@pytest.mark.parametrize(
    "born, age", [("1980-11-25", 46), ("1980-11-26", 45), ("2008-11-25", 18), ("2008-11-26", 17)]
)
def test_age_in_whole_years(born: str, age: int) -> None:
    from datetime import date

    assert age_on(date.fromisoformat(born), NOW.date()) == age


# --- erasure -----------------------------------------------------------------------------------

ERASURE = ErasePatientData(ground=ErasureGround.DATA_SUBJECT_REQUEST, request_reference="DSR-7")


def test_an_erasure_is_recorded_with_its_ground_and_no_personal_data() -> None:
    [event] = when(given(refer()), ERASURE)
    assert isinstance(event, ErasureRecorded)
    assert (event.patient_id, event.erased_at, event.ground) == (
        PATIENT,
        NOW,
        ErasureGround.DATA_SUBJECT_REQUEST,
    )
    assert set(type(event).model_fields) == {
        "patient_id",
        "erased_at",
        "ground",
        "request_reference",
        "occurred_at",
    }


@pytest.mark.parametrize("after", [FORM, CONSENT, phq9_total(12), ERASURE])
def test_nothing_more_is_recorded_about_an_erased_patient(after: Request) -> None:
    with pytest.raises(PatientErased, match="erased"):
        when(given(refer(), ERASURE), after)


def test_an_unknown_patient_cannot_be_erased() -> None:
    with pytest.raises(NotFound):
        when(given(), ERASURE)
