"""Given/when/then for the integration decider: due and overdue, outcomes, completion."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from carepath.chassis.errors import InvalidField, NotFound, RuleViolation
from carepath.contracts import registry
from carepath.contracts.common import Instrument
from carepath.contracts.intake import ReferralReason
from carepath.contracts.integration import (
    BoosterIndicated,
    CompleteCourse,
    CourseCompleted,
    DiscontinueCourse,
    IntegrationSessionOverdue,
    OutcomeMeasured,
    OutcomeSuicidalityFlagRaised,
    RecordIntegrationSession,
    RecordOutcome,
)
from carepath.contracts.session import MaintenancePhaseStarted, PatientDischarged
from carepath.integration.clinic_policy import load_policy
from carepath.integration.domain import (
    FlagOverdue,
    MakeIntegrationDue,
    PatientContext,
    PlanState,
    StaffCommand,
    plan_decider,
)
from carepath.integration.policy import NoteMaintenance, fact_from
from carepath.integration.service import PatientContextRecord

POLICY = load_policy()
DECIDER = plan_decider(POLICY)
PATIENT = UUID("a1a2a3a4-b1b2-4c1c-8d1d-e1e2e3e4e5e6")
COURSE = uuid4()
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
CONTEXT = PatientContext(
    patient_id=PATIENT,
    baselines={Instrument.PHQ9: 20, Instrument.GAD7: 12},
    course_id=COURSE,
    planned_dosing_sessions=2,
)


def discharged(days_ago: float, session: UUID | None = None) -> MakeIntegrationDue:
    at = NOW - timedelta(days=days_ago)
    return MakeIntegrationDue(
        PatientDischarged(
            patient_id=PATIENT,
            session_id=session or uuid4(),
            discharged_at=at,
            observation_minutes=130,
            last_systolic=120,
            last_diastolic=80,
            readiness_confirmed=True,
            escort_confirmed=True,
            no_driving_until=at.date() + timedelta(days=1),
            min_observation_minutes=120,
            alert_systolic_mmhg=180,
            alert_diastolic_mmhg=100,
            policy_version="2026.1",
        )
    )


def staff(request: object, context: PatientContext = CONTEXT) -> StaffCommand:
    return StaffCommand(request=request, now=NOW, context=context, new_id=uuid4())  # type: ignore[arg-type]


def given(*commands: object) -> PlanState:
    state = DECIDER.initial_state
    for command in commands:
        state = DECIDER.fold_onto(state, DECIDER.decide(state, command))  # type: ignore[arg-type]
    return state


def phq9(total: int, days_ago: float = 1, timepoint: str = "end_of_course") -> StaffCommand:
    items = []
    for _ in range(9):
        items.append(min(3, total - sum(items)))
    return staff(
        RecordOutcome(
            instrument="PHQ9",
            answers=items,
            measured_at=NOW - timedelta(days=days_ago),
            timepoint=timepoint,
        )
    )


def session(days_ago: float, dosing: UUID | None = None) -> StaffCommand:
    return staff(
        RecordIntegrationSession(
            held_at=NOW - timedelta(days=days_ago),
            dosing_session_id=dosing,
            therapist="t-1",
            modality="act",
            practices_assigned=["journaling"],
            themes=["grief"],
        )
    )


def test_a_discharge_makes_an_integration_session_due_within_the_policy_window() -> None:
    [due] = DECIDER.decide(DECIDER.initial_state, discharged(1))
    assert due.due_by - due.discharged_at == timedelta(hours=72)  # type: ignore[attr-defined]
    assert due.policy_version == POLICY.version  # type: ignore[attr-defined]


def test_the_same_discharge_twice_makes_one_due() -> None:
    dosing = uuid4()
    assert DECIDER.decide(given(discharged(1, dosing)), discharged(1, dosing)) == []


@pytest.mark.parametrize(
    "days_ago, overdue", [(2.9, False), (3.0, False), (3.0 + 1 / 86400, True), (3.1, True)]
)
def test_an_integration_session_is_overdue_after_72_hours(days_ago: float, overdue: bool) -> None:
    # at exactly 72 hours it is due, not yet overdue; a second later it is overdue
    events = DECIDER.decide(given(discharged(days_ago)), FlagOverdue(now=NOW))
    assert bool(events) is overdue and all(isinstance(e, IntegrationSessionOverdue) for e in events)


@pytest.mark.parametrize("charted_minutes_ago, overdue", [(59, False), (61, True)])
def test_a_discharge_charted_after_its_window_gives_an_hour_to_chart_the_session_held(
    charted_minutes_ago: int, overdue: bool
) -> None:
    dosing = uuid4()
    recorded_at = {dosing: NOW - timedelta(minutes=charted_minutes_ago)}
    events = DECIDER.decide(
        given(discharged(20, dosing)), FlagOverdue(now=NOW, recorded_at=recorded_at)
    )
    assert bool(events) is overdue
    assert POLICY.late_charting_grace_minutes == 60


def test_overdue_is_flagged_once_and_not_when_held() -> None:
    dosing = uuid4()
    state = given(discharged(5, dosing), FlagOverdue(now=NOW))
    assert DECIDER.decide(state, FlagOverdue(now=NOW)) == []
    assert DECIDER.decide(given(discharged(5), session(4)), FlagOverdue(now=NOW)) == []


def test_a_session_without_a_dosing_session_integrates_the_oldest_waiting() -> None:
    older, newer = uuid4(), uuid4()
    state = given(discharged(4, older), discharged(1, newer), session(0.5))
    assert [d.dosing_session_id for d in state.open_due()] == [newer]


def test_a_session_held_before_the_discharge_it_integrates_is_invalid() -> None:
    dosing = uuid4()
    with pytest.raises(InvalidField, match="held_at"):
        DECIDER.decide(given(discharged(1, dosing)), session(2, dosing))


@pytest.mark.parametrize(
    "total, response, remission",
    [(10, True, False), (11, False, False), (4, True, True), (5, True, False)],
)
def test_response_at_50_percent_and_remission_below_5(
    total: int, response: bool, remission: bool
) -> None:
    [measured] = DECIDER.decide(DECIDER.initial_state, phq9(total))
    assert isinstance(measured, OutcomeMeasured)
    assert (measured.total, measured.baseline_total, measured.response, measured.remission) == (
        total,
        20,
        response,
        remission,
    )
    assert measured.change_from_baseline_percent == round((total - 20) / 20 * 100, 1)


def test_without_a_baseline_no_response_is_claimed() -> None:
    [measured] = DECIDER.decide(
        DECIDER.initial_state,
        staff(
            RecordOutcome(
                instrument="PCL5", answers=[1] * 20, measured_at=NOW, timepoint="follow_up"
            )
        ),
    )
    assert (
        isinstance(measured, OutcomeMeasured)
        and measured.baseline_total is None
        and measured.response is None
    )


def test_completion_needs_every_planned_session_done() -> None:
    with pytest.raises(RuleViolation, match="1 of 2 planned dosing sessions"):
        DECIDER.decide(given(discharged(5), phq9(8)), staff(CompleteCourse(completed_at=NOW)))


def test_completion_needs_a_final_phq9_after_the_last_session() -> None:
    with pytest.raises(RuleViolation, match="final PHQ9"):
        DECIDER.decide(
            given(discharged(5), discharged(2), phq9(8, days_ago=3)),
            staff(CompleteCourse(completed_at=NOW)),
        )


def test_a_course_completes_with_its_result_against_baseline() -> None:
    [done] = DECIDER.decide(
        given(discharged(5), discharged(2), phq9(8, days_ago=1)),
        staff(CompleteCourse(completed_at=NOW)),
    )
    assert isinstance(done, CourseCompleted)
    assert (done.instrument, done.dosing_sessions_completed, done.final_total) == ("PHQ9", 2, 8)
    assert (done.baseline_total, done.response, done.remission) == (20, True, False)


def test_a_completed_course_cannot_be_discontinued_or_completed_again() -> None:
    state = given(discharged(5), discharged(2), phq9(8), staff(CompleteCourse(completed_at=NOW)))
    for request in (
        CompleteCourse(completed_at=NOW),
        DiscontinueCourse(discontinued_at=NOW, reason="patient_choice"),
    ):
        with pytest.raises(RuleViolation, match="completed"):
            DECIDER.decide(state, staff(request))


def test_discontinuation_records_the_reason_and_ends_the_course() -> None:
    state = given(
        discharged(5), staff(DiscontinueCourse(discontinued_at=NOW, reason="lost_to_follow_up"))
    )
    assert state.discontinued is not None and state.discontinued.reason == "lost_to_follow_up"
    assert (
        DECIDER.decide(state, FlagOverdue(now=NOW)) == []
    )  # nothing is overdue for an ended course


def test_ending_a_course_that_integration_does_not_know_is_not_found() -> None:
    with pytest.raises(NotFound):
        DECIDER.decide(
            DECIDER.initial_state,
            staff(
                DiscontinueCourse(discontinued_at=NOW, reason="patient_choice"),
                PatientContext(patient_id=PATIENT),
            ),
        )


def test_a_charted_time_in_the_future_is_invalid() -> None:
    with pytest.raises(InvalidField, match="discontinued_at"):
        DECIDER.decide(
            given(),
            staff(
                DiscontinueCourse(discontinued_at=NOW + timedelta(hours=1), reason="patient_choice")
            ),
        )


def outcome(instrument: str, answers: list[int], timepoint: str = "end_of_course") -> StaffCommand:
    at = NOW - timedelta(days=1)
    request = RecordOutcome(
        instrument=instrument, answers=answers, measured_at=at, timepoint=timepoint
    )
    return staff(request, PAIN_CONTEXT if instrument == "PAIN_NRS" else PTSD_CONTEXT)


PTSD_CONTEXT = PatientContext(
    patient_id=PATIENT,
    baselines={Instrument.PHQ9: 20, Instrument.PCL5: 45},
    course_id=COURSE,
    planned_dosing_sessions=2,
    referral_reason=ReferralReason.PTSD,
)
PAIN_CONTEXT = PatientContext(
    patient_id=PATIENT,
    baselines={Instrument.PHQ9: 20, Instrument.PAIN_NRS: 10},
    course_id=COURSE,
    planned_dosing_sessions=2,
    referral_reason=ReferralReason.CHRONIC_PAIN,
)


@pytest.mark.parametrize(
    "total, response, remission",
    [(35, True, False), (36, False, False), (32, True, True), (33, True, False)],
)
def test_pcl5_responds_by_10_points_and_remits_below_33(
    total: int, response: bool, remission: bool
) -> None:
    answers = [4] * (total // 4) + ([total % 4] if total % 4 else [])
    answers += [0] * (20 - len(answers))
    [measured] = DECIDER.decide(DECIDER.initial_state, outcome("PCL5", answers))
    assert isinstance(measured, OutcomeMeasured)
    assert (measured.total, measured.change_from_baseline_points) == (total, total - 45)
    assert (measured.response, measured.remission) == (response, remission)
    assert (
        measured.criteria.response_reduction_points
        == POLICY.outcomes[Instrument.PCL5].response_reduction_points
    )


@pytest.mark.parametrize(
    "score, response, substantial",
    [(7, True, False), (8, False, False), (5, True, True), (6, True, False)],
)
def test_pain_responds_at_30_percent_and_substantially_at_50_percent(
    score: int, response: bool, substantial: bool
) -> None:
    [measured] = DECIDER.decide(DECIDER.initial_state, outcome("PAIN_NRS", [score]))
    assert isinstance(measured, OutcomeMeasured)
    assert (measured.response, measured.substantial_response) == (response, substantial)
    assert measured.remission is None  # the policy sets no remission for pain


def test_completion_needs_the_final_measure_of_the_patients_own_instrument() -> None:
    pain = PAIN_CONTEXT
    history = given(discharged(5), discharged(2), staff(phq9(4).request, pain))
    with pytest.raises(RuleViolation, match="final PAIN_NRS"):
        DECIDER.decide(history, staff(CompleteCourse(completed_at=NOW), pain))
    finished = DECIDER.fold_onto(history, DECIDER.decide(history, outcome("PAIN_NRS", [4])))
    [done] = DECIDER.decide(finished, staff(CompleteCourse(completed_at=NOW), pain))
    assert isinstance(done, CourseCompleted)
    assert (done.instrument, done.baseline_total, done.final_total) == ("PAIN_NRS", 10, 4)
    assert (done.response, done.substantial_response, done.remission) == (True, True, None)


def test_a_baseline_measured_in_the_plan_serves_when_intake_took_none() -> None:
    context = PatientContext(patient_id=PATIENT, referral_reason=ReferralReason.ANXIETY)
    baseline = RecordOutcome(
        instrument="GAD7",
        answers=[3] * 6 + [2],
        measured_at=NOW - timedelta(days=30),
        timepoint="baseline",
    )
    later = RecordOutcome(
        instrument="GAD7", answers=[1] * 7, measured_at=NOW, timepoint="follow_up"
    )
    state = given(staff(baseline, context))
    [measured] = DECIDER.decide(state, staff(later, context))
    assert isinstance(measured, OutcomeMeasured)
    assert (measured.baseline_total, measured.total, measured.response) == (20, 7, True)


@pytest.mark.parametrize("item9, flagged", [(0, False), (1, True), (3, True)])
def test_an_outcome_phq9_item_9_above_0_raises_the_suicidality_flag(
    item9: int, flagged: bool
) -> None:
    answers = [1, 1, 1, 1, 1, 1, 1, 1, item9]
    request = RecordOutcome(
        instrument="PHQ9", answers=answers, measured_at=NOW, timepoint="pre_dose"
    )
    events = DECIDER.decide(DECIDER.initial_state, staff(request))
    flags = [e for e in events if isinstance(e, OutcomeSuicidalityFlagRaised)]
    assert len(flags) == int(flagged)
    if flagged:
        assert flags[0].event_type() == "carepath.integration.SuicidalityFlagRaised.v1"
        assert flags[0].follow_up_due_by.date() == NOW.date()
        assert flags[0].policy_version == POLICY.version


def test_a_v1_outcome_in_the_log_reads_as_v2_with_the_criteria_it_was_judged_under() -> None:
    v1 = {
        "patient_id": str(PATIENT),
        "instrument": "GAD7",
        "item_scores": [1] * 7,
        "total": 7,
        "measured_at": NOW.isoformat(),
        "timepoint": "follow_up",
        "baseline_total": 14,
        "change_from_baseline_percent": -50.0,
        "response": True,
        "remission": None,
        "response_threshold_percent": 50,
        "remission_below": 5,
        "policy_version": "2026.1",
    }
    event = registry.parse("carepath.integration.OutcomeMeasured.v1", v1)
    assert isinstance(event, OutcomeMeasured)
    assert event.criteria.response_reduction_percent == 50
    assert event.criteria.remission_below is None  # v1 judged remission for PHQ-9 only
    assert (event.response, event.remission, event.change_from_baseline_points) == (True, None, -7)


def test_completion_waits_for_the_maintenance_sessions_too() -> None:
    started = MaintenancePhaseStarted(
        patient_id=PATIENT,
        course_id=COURSE,
        started_at=NOW - timedelta(days=20),
        induction_doses=2,
        planned_sessions=1,
        min_interval_days=14,
        max_interval_days=28,
        rationale="Relapse prevention after a good induction.",
        policy_version="2026.1",
    )
    record = PatientContextRecord(patient_id=PATIENT, course_id=COURSE, planned_dosing_sessions=2)
    fact = fact_from(started)
    assert isinstance(fact, NoteMaintenance) and fact.planned_sessions == 1
    record.maintenance_sessions = fact.planned_sessions
    context = record.context()
    assert context.planned_dosing_sessions == 3
    history = given(discharged(5), discharged(2), phq9(8, days_ago=1))
    with pytest.raises(RuleViolation, match="2 of 3 planned dosing sessions"):
        DECIDER.decide(history, staff(CompleteCourse(completed_at=NOW), context))


def test_a_new_course_after_new_consent_completes_on_its_own_sessions() -> None:
    ended = DiscontinueCourse(discontinued_at=NOW - timedelta(days=29), reason="patient_choice")
    second_course = PatientContext(
        patient_id=PATIENT,
        baselines={Instrument.PHQ9: 20},
        course_id=uuid4(),
        planned_dosing_sessions=2,
    )
    one_done = given(discharged(30), staff(ended), discharged(2))
    with pytest.raises(RuleViolation, match="1 of 2 planned dosing sessions"):
        DECIDER.decide(one_done, staff(CompleteCourse(completed_at=NOW), second_course))
    both_done = given(discharged(30), staff(ended), discharged(5), discharged(2), phq9(8))
    [done] = DECIDER.decide(both_done, staff(CompleteCourse(completed_at=NOW), second_course))
    assert isinstance(done, CourseCompleted) and done.course_id == second_course.course_id
    assert done.dosing_sessions_completed == 2


def follow_up(total: int, days_ago: float, timepoint: str = "follow_up") -> StaffCommand:
    items = [min(3, max(0, total - 3 * n)) for n in range(8)] + [0]
    request = RecordOutcome(
        instrument="PHQ9",
        answers=items,
        measured_at=NOW - timedelta(days=days_ago),
        timepoint=timepoint,
    )
    return staff(request)


@pytest.mark.parametrize(
    "before, after, indicated",
    [(6, 12, True), (9, 10, True), (9, 9, False), (10, 14, False), (4, 6, False)],
)
def test_a_booster_is_indicated_when_the_score_rises_back_above_the_policy_threshold(
    before: int, after: int, indicated: bool
) -> None:
    above = POLICY.outcomes[Instrument.PHQ9].booster_above
    assert above == 9
    events = DECIDER.decide(given(follow_up(before, days_ago=30)), follow_up(after, days_ago=1))
    boosters = [e for e in events if isinstance(e, BoosterIndicated)]
    assert len(boosters) == int(indicated)
    if indicated:
        assert (boosters[0].previous_total, boosters[0].total) == (before, after)


def test_no_booster_is_indicated_by_a_pre_dose_measure_or_without_one_before() -> None:
    after_low = given(follow_up(6, days_ago=30))
    pre_dose = follow_up(12, days_ago=1, timepoint="pre_dose")
    assert not any(isinstance(e, BoosterIndicated) for e in DECIDER.decide(after_low, pre_dose))
    alone = DECIDER.decide(DECIDER.initial_state, follow_up(12, days_ago=1))
    assert not any(isinstance(e, BoosterIndicated) for e in alone)
