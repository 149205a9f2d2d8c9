"""Given/when/then for the course decider: course opening, preparation, dosing sessions (check-in,
dose, monitoring, discharge), adverse events and suspension, charted times."""

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from session_fixtures import (
    BOOKED,
    CHECKED_IN,
    CHECKED_IN_AT,
    CONSENT_WITHDRAWN_EVENT,
    COURSE,
    DECIDER,
    DOSED,
    DOSED_AT,
    ELIGIBILITY_EVENT,
    INFUSION_ENDED_AT,
    MONITORED,
    NOW,
    OPENED,
    PATIENT,
    POLICY,
    PREPARATION,
    PREPARED,
    PREPARED_AT,
    RATIONALE,
    SCHEDULED_FOR,
    SESSION,
    UNKNOWN_SESSION,
    WEIGHT_KG,
    adverse_event,
    after_dose,
    after_infusion,
    check_in,
    completed_session,
    completed_sessions,
    consent_withdrawn,
    discharge,
    dose,
    given,
    observation,
    open_course,
    preparation,
    resume,
    schedule,
    session_id,
    suspend,
    types,
    vitals,
    when,
)

from carepath.chassis.errors import InvalidField, NotFound, RuleViolation
from carepath.contracts import DomainEvent
from carepath.contracts.common import AdverseEventSeverity, TherapyModality
from carepath.contracts.session import (
    AdverseEventReported,
    CourseEndReason,
    CourseOpened,
    CourseOpeningBasis,
    CourseResumed,
    CourseSuspended,
    CourseSuspensionReason,
    DischargeRefusalReason,
    DischargeRefused,
    DoseAdministered,
    DosingDeferred,
    DosingSessionScheduled,
    ObservationRecorded,
    PatientCheckedIn,
    PatientDischarged,
    PreDoseSuicidalityFlagRaised,
    PreparationSessionCompleted,
    Route,
    SedationLevel,
    SideEffect,
    VitalsAlertKind,
    VitalsAlertRaised,
    VitalsRecorded,
)
from carepath.session.clinic_policy import SessionPolicy
from carepath.session.domain import CourseCommand, DosingStatus, EndCourse, course_decider

SoFar = tuple[CourseCommand, ...]  # the commands decided so far, in order
Charting = Callable[[datetime], CourseCommand]  # a command charting something at a given time

# --- course opening ----------------------------------------------------------------------------


def test_a_cleared_patient_gets_a_course_with_the_policy_induction_plan() -> None:
    [opened] = when(given(), open_course())
    assert isinstance(opened, CourseOpened)
    assert (opened.patient_id, opened.course_id) == (PATIENT, COURSE)
    assert (opened.basis, opened.basis_event_id) == (CourseOpeningBasis.ELIGIBLE, ELIGIBILITY_EVENT)
    assert (opened.planned_dosing_sessions, opened.planned_weeks) == (6, 3)
    assert opened.policy_version == POLICY.version == "2026.1"


def test_a_course_opened_on_an_approved_review_records_that_basis() -> None:
    [opened] = when(given(), open_course(CourseOpeningBasis.REVIEW_APPROVED))
    assert isinstance(opened, CourseOpened) and opened.basis is CourseOpeningBasis.REVIEW_APPROVED


def test_the_induction_plan_and_version_come_from_the_policy_in_force() -> None:
    shorter = SessionPolicy.model_validate(
        {
            **POLICY.model_dump(),
            "version": "2027.1-short",
            "course": {"planned_dosing_sessions": 4, "planned_weeks": 2},
        }
    )
    [opened] = course_decider(shorter).decide(given(), open_course())
    assert isinstance(opened, CourseOpened)
    assert (opened.planned_dosing_sessions, opened.planned_weeks, opened.policy_version) == (
        4,
        2,
        "2027.1-short",
    )


def test_a_second_open_course_decides_nothing() -> None:
    # a redelivery, or a clinician's approval after an automatic `eligible`
    again = open_course(CourseOpeningBasis.REVIEW_APPROVED, course_id=session_id(99))
    assert when(given(open_course()), again) == []


# --- preparation -------------------------------------------------------------------------------


def test_a_preparation_session_is_recorded_for_the_course() -> None:
    [prepared] = when(given(*OPENED), preparation())
    assert isinstance(prepared, PreparationSessionCompleted)
    assert (prepared.patient_id, prepared.course_id) == (PATIENT, COURSE)
    assert prepared.preparation_session_id == PREPARATION and prepared.held_at == PREPARED_AT
    assert prepared.modality is TherapyModality.ACT and len(prepared.intentions) == 2


def test_the_first_dose_is_refused_without_a_preparation_session() -> None:
    state = given(*OPENED, schedule(), check_in())
    with pytest.raises(
        RuleViolation, match="a preparation session must come before the first dose"
    ):
        when(state, dose())


def test_later_doses_need_no_further_preparation() -> None:
    today = session_id(2)
    state = given(*PREPARED, *completed_sessions(1), schedule(today), check_in(session=today))
    assert types(when(state, dose(session=today))) == ["DoseAdministered"]


def test_a_preparation_held_after_the_first_dose_does_not_count_as_preparation() -> None:
    state = given(*OPENED, schedule(), check_in(), preparation(at=after_dose(hours=2)))
    with pytest.raises(RuleViolation, match="preparation"):
        when(state, dose())


# --- scheduling --------------------------------------------------------------------------------


def test_the_first_dosing_session_is_booked_as_number_1() -> None:
    [booked] = when(given(*PREPARED), schedule())
    assert isinstance(booked, DosingSessionScheduled)
    assert (booked.patient_id, booked.course_id, booked.session_id) == (PATIENT, COURSE, SESSION)
    assert (booked.session_number, booked.scheduled_for) == (1, SCHEDULED_FOR)


def test_a_session_can_be_booked_in_the_future() -> None:
    next_week = NOW + timedelta(days=7)
    [booked] = when(given(*PREPARED), schedule(scheduled_for=next_week))
    assert isinstance(booked, DosingSessionScheduled) and booked.scheduled_for == next_week


@pytest.mark.parametrize(
    "so_far, status",
    [(BOOKED, "scheduled"), (CHECKED_IN, "checked_in"), (DOSED, "monitoring")],
    ids=["booked", "checked-in", "being-monitored"],
)
def test_booking_is_refused_while_another_session_is_open(so_far: SoFar, status: str) -> None:
    with pytest.raises(
        RuleViolation, match=re.escape(f"dosing session 1 is still open ({status})")
    ):
        when(given(*so_far), schedule(session_id(2)))


def test_session_numbers_increase_after_a_discharge_and_after_a_deferral() -> None:
    deferred = session_id(2)
    state = given(
        *PREPARED, *completed_sessions(1), schedule(deferred), check_in(150, 95, session=deferred)
    )
    [booked] = when(state, schedule(session_id(3)))
    assert isinstance(booked, DosingSessionScheduled) and booked.session_number == 3


def test_booking_is_refused_once_all_planned_doses_are_given() -> None:
    planned = POLICY.course.planned_dosing_sessions
    state = given(*PREPARED, *completed_sessions(planned))
    assert state.doses_given == planned
    with pytest.raises(RuleViolation, match=f"all {planned} planned dosing sessions are done"):
        when(state, schedule(session_id(planned + 1)))


def test_a_deferred_session_does_not_use_up_a_planned_dose() -> None:
    planned = POLICY.course.planned_dosing_sessions
    deferred = session_id(planned)
    state = given(
        *PREPARED,
        *completed_sessions(planned - 1),
        schedule(deferred),
        check_in(152, 96, session=deferred),
    )
    [booked] = when(state, schedule(session_id(planned + 1)))
    assert isinstance(booked, DosingSessionScheduled) and booked.session_number == planned + 1


# --- check-in ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "systolic, diastolic", [(140, 90), (124, 78), (140, 70), (110, 90)], ids=lambda v: str(v)
)
def test_pre_dose_bp_at_or_below_140_over_90_lets_dosing_proceed(
    systolic: int, diastolic: int
) -> None:
    state = given(*BOOKED)
    [checked_in] = when(state, check_in(systolic, diastolic))
    assert isinstance(checked_in, PatientCheckedIn)
    assert (checked_in.systolic, checked_in.diastolic, checked_in.weight_kg) == (
        systolic,
        diastolic,
        WEIGHT_KG,
    )
    after = DECIDER.fold_onto(state, [checked_in])
    assert after.sessions[SESSION].status is DosingStatus.CHECKED_IN


@pytest.mark.parametrize(
    "systolic, diastolic", [(141, 90), (140, 91), (141, 91), (168, 104)], ids=lambda v: str(v)
)
def test_pre_dose_bp_above_140_over_90_defers_dosing(systolic: int, diastolic: int) -> None:
    checked_in, deferred = when(given(*BOOKED), check_in(systolic, diastolic))
    assert isinstance(checked_in, PatientCheckedIn) and isinstance(deferred, DosingDeferred)
    assert (deferred.session_id, deferred.systolic, deferred.diastolic) == (
        SESSION,
        systolic,
        diastolic,
    )
    assert (deferred.max_systolic_mmhg, deferred.max_diastolic_mmhg) == (140, 90)
    assert f"{systolic}/{diastolic} mmHg is above 140/90" in deferred.reason
    assert deferred.policy_version == POLICY.version


def test_a_deferred_session_is_no_longer_open_so_another_can_be_booked() -> None:
    state = given(*BOOKED, check_in(141, 90))
    assert state.sessions[SESSION].status is DosingStatus.DEFERRED
    assert not state.sessions[SESSION].is_open
    [booked] = when(state, schedule(session_id(2)))
    assert isinstance(booked, DosingSessionScheduled) and booked.session_number == 2


def test_a_deferred_session_cannot_be_dosed() -> None:
    with pytest.raises(RuleViolation, match="dosing session 1 is deferred, not checked_in"):
        when(given(*BOOKED, check_in(141, 90)), dose())


def test_pre_dose_phq9_answers_are_scored_by_the_service() -> None:
    answers = [0, 1, 2, 3, 0, 1, 2, 3, 0]
    [checked_in] = when(given(*BOOKED), check_in(phq9=answers))
    assert isinstance(checked_in, PatientCheckedIn)
    assert checked_in.pre_dose_phq9_answers == answers and checked_in.pre_dose_phq9_total == 12


def test_a_passing_check_in_records_the_policy_version_it_was_judged_under() -> None:
    [checked_in] = when(given(*BOOKED), check_in())
    assert isinstance(checked_in, PatientCheckedIn) and checked_in.policy_version == POLICY.version


@pytest.mark.parametrize("item9, flagged", [(0, False), (1, True), (3, True)])
def test_a_pre_dose_phq9_item_9_above_0_raises_the_suicidality_flag(
    item9: int, flagged: bool
) -> None:
    events = when(given(*BOOKED), check_in(phq9=[1] * 8 + [item9]))
    flags = [e for e in events if isinstance(e, PreDoseSuicidalityFlagRaised)]
    assert len(flags) == int(flagged)
    assert isinstance(events[0], PatientCheckedIn)  # a flag for review, not a stop
    if flagged:
        assert flags[0].event_type() == "carepath.session.SuicidalityFlagRaised.v1"
        assert flags[0].detail == f"Pre-dose PHQ-9 item 9 = {item9}"
        assert flags[0].follow_up_due_by.date() == events[0].measured_at.date()


def test_a_pre_dose_suicidality_flag_also_comes_with_a_deferral() -> None:
    events = when(given(*BOOKED), check_in(150, 95, phq9=[0] * 8 + [2]))
    assert [type(e).__name__ for e in events] == [
        "PatientCheckedIn",
        "PreDoseSuicidalityFlagRaised",
        "DosingDeferred",
    ]


def test_a_check_in_without_phq9_has_no_total() -> None:
    [checked_in] = when(given(*BOOKED), check_in())
    assert isinstance(checked_in, PatientCheckedIn) and checked_in.pre_dose_phq9_total is None


# --- dose --------------------------------------------------------------------------------------

# At today's weight of 80 kg: the lowest and highest dose each route's policy range allows.
DOSES_AT_THE_EDGES = [
    (Route.IV, 8.0, 0.1),
    (Route.IV, 60.0, 0.75),
    (Route.IM, 40.0, 0.5),
    (Route.IM, 80.0, 1.0),
    (Route.ORAL, 20.0, 0.25),
    (Route.ORAL, 560.0, 7.0),
    (Route.SUBLINGUAL, 100.0, 1.25),
    (Route.SUBLINGUAL, 300.0, 3.75),
]
# Just outside them, with the range the refusal names.
DOSES_JUST_OUTSIDE = [
    (Route.IV, 7.9, "0.1-0.75 mg/kg"),
    (Route.IV, 60.1, "0.1-0.75 mg/kg"),
    (Route.IM, 39.9, "0.5-1.0 mg/kg"),
    (Route.IM, 80.1, "0.5-1.0 mg/kg"),
    (Route.ORAL, 19.9, "0.25-7.0 mg/kg"),
    (Route.ORAL, 560.5, "0.25-7.0 mg/kg"),
    (Route.SUBLINGUAL, 99.5, "100-300 mg"),
    (Route.SUBLINGUAL, 300.5, "100-300 mg"),
]


def dose_id(value: object) -> str:
    return value.value if isinstance(value, Route) else str(value)


@pytest.mark.parametrize("route, mg, per_kg", DOSES_AT_THE_EDGES, ids=dose_id)
def test_a_dose_at_the_edge_of_the_route_range_is_given(
    route: Route, mg: float, per_kg: float
) -> None:
    [given_dose] = when(given(*CHECKED_IN), dose(route, mg))
    assert isinstance(given_dose, DoseAdministered)
    assert (given_dose.route, given_dose.dose_mg, given_dose.dose_mg_per_kg) == (route, mg, per_kg)
    assert given_dose.within_policy_range and given_dose.override_rationale is None
    allowed = POLICY.dose_ranges[route]
    assert (
        given_dose.policy_min_mg_per_kg,
        given_dose.policy_max_mg_per_kg,
        given_dose.policy_min_mg,
        given_dose.policy_max_mg,
    ) == (allowed.min_mg_per_kg, allowed.max_mg_per_kg, allowed.min_mg, allowed.max_mg)
    assert given_dose.policy_version == POLICY.version


@pytest.mark.parametrize("route, mg, allowed", DOSES_JUST_OUTSIDE, ids=dose_id)
def test_a_dose_just_outside_the_route_range_is_refused_naming_the_range(
    route: Route, mg: float, allowed: str
) -> None:
    with pytest.raises(RuleViolation) as refused:
        when(given(*CHECKED_IN), dose(route, mg))
    message = str(refused.value)
    assert f"is outside the {route.value} policy range {allowed}" in message
    assert f"{mg:g} mg" in message and "override_rationale" in message


@pytest.mark.parametrize("route, mg, _allowed", DOSES_JUST_OUTSIDE, ids=dose_id)
def test_a_clinician_overrides_the_range_with_a_rationale(
    route: Route, mg: float, _allowed: str
) -> None:
    [given_dose] = when(given(*CHECKED_IN), dose(route, mg, override=RATIONALE))
    assert isinstance(given_dose, DoseAdministered) and given_dose.dose_mg == mg
    assert not given_dose.within_policy_range
    assert given_dose.override_rationale == RATIONALE


def test_a_rationale_on_a_dose_within_range_records_no_override() -> None:
    [given_dose] = when(given(*CHECKED_IN), dose(override=RATIONALE))
    assert isinstance(given_dose, DoseAdministered)
    assert given_dose.within_policy_range and given_dose.override_rationale is None


def test_mg_per_kg_is_computed_from_todays_check_in_weight() -> None:
    [given_dose] = when(given(*BOOKED, check_in(weight_kg=72.5)), dose(Route.IV, 30.0))
    assert isinstance(given_dose, DoseAdministered)
    assert (given_dose.weight_kg, given_dose.dose_mg_per_kg) == (72.5, 0.4138)
    assert given_dose.infusion_minutes == 40 and given_dose.administered_at == DOSED_AT


def test_a_dose_before_check_in_is_refused() -> None:
    with pytest.raises(RuleViolation, match="cannot give a dose: dosing session 1 is scheduled"):
        when(given(*BOOKED), dose())


def test_a_dose_charted_before_the_check_in_vitals_is_invalid() -> None:
    with pytest.raises(InvalidField) as invalid:
        when(given(*CHECKED_IN), dose(at=CHECKED_IN_AT - timedelta(minutes=1)))
    assert invalid.value.field == "administered_at"


def test_a_dose_charted_at_the_check_in_time_is_accepted() -> None:
    assert types(when(given(*CHECKED_IN), dose(at=CHECKED_IN_AT))) == ["DoseAdministered"]


def test_a_second_dose_in_the_same_session_is_refused() -> None:
    with pytest.raises(RuleViolation, match="dosing session 1 is monitoring, not checked_in"):
        when(given(*DOSED), dose(at=after_dose(minutes=10)))


# --- monitoring --------------------------------------------------------------------------------


def test_vitals_charted_before_the_dose_are_invalid() -> None:
    with pytest.raises(InvalidField) as invalid:
        when(given(*DOSED), vitals(at=DOSED_AT - timedelta(minutes=1)))
    assert invalid.value.field == "measured_at"


@pytest.mark.parametrize(
    "at, minutes",
    [
        (DOSED_AT, 0),
        (after_dose(minutes=40, seconds=59), 40),
        (after_dose(hours=1, minutes=15), 75),
    ],
    ids=["at-the-dose", "40m59s", "1h15m"],
)
def test_vitals_record_whole_minutes_since_the_dose(at: datetime, minutes: int) -> None:
    [recorded] = when(given(*DOSED), vitals(at=at))
    assert isinstance(recorded, VitalsRecorded)
    assert (recorded.measured_at, recorded.minutes_since_dose) == (at, minutes)


BP_HIGH, HR_HIGH = VitalsAlertKind.BLOOD_PRESSURE_HIGH, VitalsAlertKind.HEART_RATE_HIGH


@pytest.mark.parametrize(
    "systolic, diastolic, heart_rate, kinds",
    [
        (180, 100, 110, []),
        (181, 100, 110, [BP_HIGH]),
        (180, 101, 110, [BP_HIGH]),
        (180, 100, 111, [HR_HIGH]),
        (181, 101, 111, [BP_HIGH, HR_HIGH]),
        (150, 104, 118, [BP_HIGH, HR_HIGH]),
    ],
    ids=["180/100-hr110", "181/100", "180/101", "hr111", "181/101-hr111", "150/104-hr118"],
)
def test_vitals_above_180_over_100_or_heart_rate_110_raise_an_alert(
    systolic: int, diastolic: int, heart_rate: int, kinds: list[VitalsAlertKind]
) -> None:
    events = when(given(*DOSED), vitals(systolic, diastolic, heart_rate))
    assert types(events) == ["VitalsRecorded"] + (["VitalsAlertRaised"] if kinds else [])
    if kinds:
        alert = events[1]
        assert isinstance(alert, VitalsAlertRaised) and alert.kinds == kinds
        assert (alert.systolic, alert.diastolic, alert.heart_rate) == (
            systolic,
            diastolic,
            heart_rate,
        )
        assert (
            alert.alert_systolic_mmhg,
            alert.alert_diastolic_mmhg,
            alert.alert_heart_rate_bpm,
        ) == (180, 100, 110)
        assert alert.measured_at == after_dose(minutes=45)
        assert alert.policy_version == POLICY.version


def test_an_observation_is_recorded_while_monitoring() -> None:
    [observed] = when(given(*DOSED), observation())
    assert isinstance(observed, ObservationRecorded)
    assert (observed.observed_at, observed.cadss_total, observed.sedation) == (
        after_dose(minutes=20),
        18,
        SedationLevel.DROWSY,
    )
    assert observed.side_effects == [SideEffect.NAUSEA, SideEffect.DIZZINESS]


# Commands that only fit one stage of a dosing session, tried at another stage.
OUT_OF_STAGE = [
    (
        "checking-in-after-the-dose",
        DOSED,
        check_in(),
        "cannot check in: dosing session 1 is monitoring",
    ),
    (
        "checking-in-a-deferred-session",
        (*BOOKED, check_in(141, 90)),
        check_in(),
        "cannot check in: dosing session 1 is deferred",
    ),
    ("vitals-before-the-dose", CHECKED_IN, vitals(), "cannot record post-dose vitals"),
    (
        "vitals-after-discharge",
        (*MONITORED, discharge()),
        vitals(at=after_infusion(hours=2, minutes=5)),
        "dosing session 1 is discharged, not monitoring",
    ),
    ("observation-before-the-dose", CHECKED_IN, observation(), "cannot record an observation"),
    (
        "observation-in-a-deferred-session",
        (*BOOKED, check_in(141, 90)),
        observation(),
        "cannot record an observation: dosing session 1 is deferred",
    ),
    (
        "observation-after-discharge",
        (*MONITORED, discharge()),
        observation(),
        "cannot record an observation: dosing session 1 is discharged",
    ),
    (
        "discharge-before-the-dose",
        CHECKED_IN,
        discharge(),
        "cannot discharge: dosing session 1 is checked_in",
    ),
    (
        "discharge-of-a-deferred-session",
        (*BOOKED, check_in(141, 90)),
        discharge(),
        "cannot discharge: dosing session 1 is deferred",
    ),
]


@pytest.mark.parametrize(
    "so_far, command, message",
    [row[1:] for row in OUT_OF_STAGE],
    ids=[row[0] for row in OUT_OF_STAGE],
)
def test_a_command_out_of_stage_is_refused(
    so_far: SoFar, command: CourseCommand, message: str
) -> None:
    with pytest.raises(RuleViolation, match=message):
        when(given(*so_far), command)


# --- adverse events and suspension -------------------------------------------------------------


def test_a_non_serious_adverse_event_is_recorded_alone() -> None:
    [reported] = when(given(*DOSED), adverse_event())
    assert isinstance(reported, AdverseEventReported)
    assert (reported.session_id, reported.severity, reported.serious) == (
        SESSION,
        AdverseEventSeverity.MILD,
        False,
    )
    assert reported.occurred_at == after_dose(minutes=25)


def test_a_serious_adverse_event_also_suspends_the_course() -> None:
    reported, suspended = when(
        given(*DOSED), adverse_event(serious=True, severity=AdverseEventSeverity.SEVERE)
    )
    assert isinstance(reported, AdverseEventReported) and reported.serious
    assert isinstance(suspended, CourseSuspended)
    assert (suspended.patient_id, suspended.course_id, suspended.reason) == (
        PATIENT,
        COURSE,
        CourseSuspensionReason.SERIOUS_ADVERSE_EVENT,
    )


def test_a_serious_adverse_event_on_a_suspended_course_is_recorded_alone() -> None:
    state = given(*DOSED, adverse_event(serious=True))
    assert types(when(state, adverse_event(serious=True))) == ["AdverseEventReported"]


def test_an_adverse_event_before_check_in_is_refused() -> None:
    with pytest.raises(RuleViolation, match="has not checked in"):
        when(given(*BOOKED), adverse_event(at=SCHEDULED_FOR))


def test_after_a_serious_adverse_event_the_patient_is_still_monitored_and_discharged() -> None:
    state = given(*MONITORED, adverse_event(serious=True))
    assert types(when(state, vitals(at=after_dose(minutes=45)))) == ["VitalsRecorded"]
    assert types(when(state, discharge())) == ["PatientDischarged"]


SUSPENDED_AFTER_SESSION_1: list[tuple[str, SoFar]] = [
    (
        "serious_adverse_event",
        (*MONITORED, adverse_event(serious=True), discharge()),
    ),
    ("clinician_decision", (*MONITORED, discharge(), suspend())),
    ("consent_withdrawn", (*MONITORED, discharge(), consent_withdrawn())),
]


@pytest.mark.parametrize(
    "reason, so_far", SUSPENDED_AFTER_SESSION_1, ids=[r for r, _ in SUSPENDED_AFTER_SESSION_1]
)
def test_no_session_can_be_booked_while_the_course_is_suspended(reason: str, so_far: SoFar) -> None:
    with pytest.raises(
        RuleViolation,
        match=re.escape(f"cannot schedule a session: the course is suspended ({reason})"),
    ):
        when(given(*so_far), schedule(session_id(2)))


@pytest.mark.parametrize(
    "why, suspension",
    [
        ("the course is suspended (clinician_decision)", suspend()),
        ("consent was withdrawn; new consent needs a new screening", consent_withdrawn()),
    ],
    ids=["clinician_decision", "consent_withdrawn"],
)
def test_a_booked_session_cannot_be_checked_in_while_the_course_is_suspended(
    why: str, suspension: CourseCommand
) -> None:
    with pytest.raises(RuleViolation, match=re.escape(f"cannot check in for dosing: {why}")):
        when(given(*BOOKED, suspension), check_in())


@pytest.mark.parametrize(
    "why, suspension",
    [
        (
            "the course is suspended (serious_adverse_event)",
            adverse_event(serious=True, at=CHECKED_IN_AT),
        ),
        ("the course is suspended (clinician_decision)", suspend()),
        ("consent was withdrawn; new consent needs a new screening", consent_withdrawn()),
    ],
    ids=["serious_adverse_event", "clinician_decision", "consent_withdrawn"],
)
def test_a_checked_in_patient_cannot_be_dosed_while_the_course_is_suspended(
    why: str, suspension: CourseCommand
) -> None:
    with pytest.raises(RuleViolation, match=re.escape(f"cannot give a dose: {why}")):
        when(given(*CHECKED_IN, suspension), dose())


def test_a_clinician_resumes_the_course_and_booking_works_again() -> None:
    state = given(*MONITORED, adverse_event(serious=True), discharge())
    [resumed] = when(state, resume())
    assert isinstance(resumed, CourseResumed) and resumed.course_id == COURSE
    assert resumed.rationale.startswith("Reviewed with the patient")
    [booked] = when(DECIDER.fold_onto(state, [resumed]), schedule(session_id(2)))
    assert isinstance(booked, DosingSessionScheduled) and booked.session_number == 2


def test_resuming_a_course_that_is_not_suspended_is_refused() -> None:
    with pytest.raises(RuleViolation, match="the course is not suspended"):
        when(given(*PREPARED), resume())


def test_consent_withdrawal_suspends_the_course_and_it_cannot_be_resumed() -> None:
    state = given(*PREPARED)
    [suspended] = when(state, consent_withdrawn())
    assert isinstance(suspended, CourseSuspended)
    assert suspended.reason is CourseSuspensionReason.CONSENT_WITHDRAWN
    assert suspended.caused_by_event_id == CONSENT_WITHDRAWN_EVENT
    with pytest.raises(RuleViolation, match="consent was withdrawn: the course cannot resume"):
        when(DECIDER.fold_onto(state, [suspended]), resume())


def test_a_redelivered_consent_withdrawal_decides_nothing() -> None:
    assert when(given(*PREPARED, consent_withdrawn()), consent_withdrawn()) == []


def test_a_consent_withdrawal_before_any_course_is_remembered_and_no_course_opens() -> None:
    # The intake and eligibility topics have no order between them: the withdrawal may come first.
    assert types(when(given(), consent_withdrawn())) == ["CourseBarred"]
    assert when(given(consent_withdrawn()), consent_withdrawn()) == []  # redelivered
    assert when(given(consent_withdrawn()), open_course()) == []


@pytest.mark.parametrize(
    "reason", [CourseEndReason.SCREENING_DECLINED, CourseEndReason.SCREENING_CLOSED]
)
def test_a_decline_or_closure_before_the_course_opened_bars_it(reason: CourseEndReason) -> None:
    # Robust to any delivery order: remembered, and the clearance then opens nothing.
    said_no = EndCourse(reason=reason, ended_by_event_id=uuid4(), patient_id=PATIENT)
    assert types(when(given(), said_no)) == ["CourseBarred"]
    assert when(given(said_no), open_course()) == []


def test_a_clinicians_decline_after_an_automatic_eligible_ends_the_course() -> None:
    declined = EndCourse(reason=CourseEndReason.SCREENING_DECLINED, ended_by_event_id=uuid4())
    state = given(*CHECKED_IN, declined)
    assert state.ended is not None and state.ended.reason is CourseEndReason.SCREENING_DECLINED
    with pytest.raises(RuleViolation, match="cannot give a dose: the course has ended"):
        when(state, dose())


@pytest.mark.parametrize(
    "so_far",
    [(*MONITORED, adverse_event(serious=True), discharge()), (*PREPARED, suspend())],
    ids=["suspended-for-serious-adverse-event", "suspended-by-clinician"],
)
def test_consent_withdrawn_while_suspended_for_another_reason_still_forbids_resuming(
    so_far: SoFar,
) -> None:
    with pytest.raises(RuleViolation, match="consent"):
        when(given(*so_far, consent_withdrawn()), resume())


def test_a_clinician_suspends_the_course_with_a_rationale() -> None:
    [suspended] = when(given(*PREPARED), suspend())
    assert isinstance(suspended, CourseSuspended)
    assert suspended.reason is CourseSuspensionReason.CLINICIAN_DECISION
    assert suspended.rationale == "Worsening insomnia; review in a week."
    assert suspended.caused_by_event_id is None


def test_suspending_a_suspended_course_is_refused() -> None:
    with pytest.raises(RuleViolation, match=re.escape("cannot suspend it again")):
        when(given(*PREPARED, suspend()), suspend())


# --- discharge ---------------------------------------------------------------------------------

WINDOW = DischargeRefusalReason.OBSERVATION_WINDOW_NOT_ELAPSED
NO_BP = DischargeRefusalReason.NO_BLOOD_PRESSURE_SINCE_DOSE
BP_ABOVE = DischargeRefusalReason.BLOOD_PRESSURE_ABOVE_ALERT_THRESHOLD
NOT_READY = DischargeRefusalReason.READINESS_NOT_CONFIRMED
NO_ESCORT = DischargeRefusalReason.ESCORT_NOT_CONFIRMED


def refused(events: Sequence[DomainEvent]) -> DischargeRefused:
    """The one event decided, which must be a refusal (a recorded event, not an exception)."""
    [refusal] = events
    assert isinstance(refusal, DischargeRefused)
    return refusal


@pytest.mark.parametrize(
    "at",
    [after_infusion(hours=1, minutes=59), after_infusion(hours=1, minutes=59, seconds=59)],
    ids=["1h59m", "1h59m59s"],
)
def test_discharge_before_two_hours_after_the_infusion_ended_is_refused_with_the_earliest_time(
    at: datetime,
) -> None:
    refusal = refused(when(given(*MONITORED), discharge(at=at)))
    assert refusal.reasons == [WINDOW]
    assert refusal.earliest_discharge_at == INFUSION_ENDED_AT + timedelta(minutes=120)
    assert (refusal.attempted_at, refusal.observation_minutes) == (at, 119)
    assert "observed 119 of 120 minutes since the end of administration" in refusal.explanation
    assert (refusal.last_systolic, refusal.last_diastolic) == (132, 82)
    assert refusal.min_observation_minutes == 120 and refusal.policy_version == POLICY.version


def test_no_driving_until_the_clinics_next_day_not_the_next_utc_day() -> None:
    sydney = ZoneInfo("Australia/Sydney")  # 21:00 UTC on Dec 1 is 08:00 on Dec 2 there
    at = after_infusion(hours=10, minutes=20)  # 21:00 UTC
    [discharged] = when(given(*MONITORED), discharge(at=at, now=at.astimezone(sydney)))
    assert isinstance(discharged, PatientDischarged)
    assert discharged.no_driving_until == date(2026, 12, 3)


def test_how_many_days_without_driving_is_the_clinic_policys() -> None:
    discharge_rule = POLICY.discharge.model_copy(update={"no_driving_days": 2})
    decider = course_decider(POLICY.model_copy(update={"discharge": discharge_rule}))
    [discharged] = decider.decide(given(*MONITORED), discharge(at=after_infusion(hours=2)))
    assert isinstance(discharged, PatientDischarged)
    assert discharged.no_driving_until == date(2026, 12, 3)


def test_discharge_at_exactly_two_hours_is_accepted_with_no_driving_until_tomorrow() -> None:
    [discharged] = when(given(*MONITORED), discharge(at=after_infusion(hours=2)))
    assert isinstance(discharged, PatientDischarged)
    assert (discharged.discharged_at, discharged.observation_minutes) == (
        after_infusion(hours=2),
        120,
    )
    assert discharged.no_driving_until == date(2026, 12, 2)
    assert (discharged.last_systolic, discharged.last_diastolic) == (132, 82)
    assert discharged.readiness_confirmed and discharged.escort_confirmed
    assert (
        discharged.min_observation_minutes,
        discharged.alert_systolic_mmhg,
        discharged.alert_diastolic_mmhg,
    ) == (120, 180, 100)
    assert discharged.policy_version == POLICY.version


def test_discharge_is_refused_when_no_bp_was_recorded_since_the_dose() -> None:
    refusal = refused(when(given(*DOSED), discharge()))
    assert refusal.reasons == [NO_BP] and refusal.earliest_discharge_at is None
    assert (refusal.last_systolic, refusal.last_diastolic) == (None, None)
    assert "no blood pressure recorded since the dose" in refusal.explanation


def test_a_bp_charted_after_the_discharge_time_does_not_count() -> None:
    state = given(*DOSED, vitals(at=after_infusion(hours=2, minutes=10)))
    assert refused(when(state, discharge(at=after_infusion(hours=2)))).reasons == [NO_BP]


@pytest.mark.parametrize(
    "systolic, diastolic", [(181, 100), (180, 101)], ids=["181/100", "180/101"]
)
def test_discharge_is_refused_while_the_last_bp_is_above_180_over_100(
    systolic: int, diastolic: int
) -> None:
    state = given(
        *DOSED,
        vitals(124, 80, at=after_dose(minutes=30)),
        vitals(systolic, diastolic, at=after_dose(hours=1, minutes=50)),
    )
    refusal = refused(when(state, discharge()))
    assert refusal.reasons == [BP_ABOVE]
    assert (refusal.last_systolic, refusal.last_diastolic) == (systolic, diastolic)
    assert f"last BP {systolic}/{diastolic} mmHg is above 180/100" in refusal.explanation


def test_discharge_is_accepted_once_a_later_bp_is_back_at_or_under_180_over_100() -> None:
    state = given(
        *DOSED,
        vitals(186, 104, at=after_dose(hours=1, minutes=30)),
        vitals(180, 100, at=after_dose(hours=1, minutes=55)),
    )
    [discharged] = when(state, discharge())
    assert isinstance(discharged, PatientDischarged)
    assert (discharged.last_systolic, discharged.last_diastolic) == (180, 100)


@pytest.mark.parametrize(
    "ready, escort, reason, words",
    [
        (False, True, NOT_READY, "the readiness-to-leave check is not confirmed"),
        (True, False, NO_ESCORT, "no escort is confirmed"),
    ],
    ids=["not-ready", "no-escort"],
)
def test_discharge_is_refused_without_readiness_or_escort(
    ready: bool, escort: bool, reason: DischargeRefusalReason, words: str
) -> None:
    refusal = refused(when(given(*MONITORED), discharge(ready=ready, escort=escort)))
    assert refusal.reasons == [reason] and refusal.explanation == words


def test_every_reason_for_refusing_a_discharge_is_listed_together() -> None:
    state = given(*DOSED, vitals(192, 106, at=after_dose(minutes=60)))
    refusal = refused(when(state, discharge(at=after_dose(minutes=90), ready=False, escort=False)))
    assert refusal.reasons == [WINDOW, BP_ABOVE, NOT_READY, NO_ESCORT]
    assert refusal.explanation == (
        "observed 50 of 120 minutes since the end of administration; last BP 192/106 mmHg is "
        "above 180/100; the readiness-to-leave check is not confirmed; no escort is confirmed"
    )
    assert refusal.earliest_discharge_at == after_infusion(hours=2)


def test_no_bp_and_too_early_are_listed_together() -> None:
    refusal = refused(when(given(*DOSED), discharge(at=after_dose(minutes=30))))
    assert refusal.reasons == [WINDOW, NO_BP]


def test_a_refused_discharge_is_recorded_and_the_patient_stays_under_monitoring() -> None:
    state = given(*MONITORED, discharge(at=after_dose(hours=1, minutes=30)))
    session = state.sessions[SESSION]
    assert len(session.refusals) == 1 and session.status is DosingStatus.MONITORING
    assert types(when(state, discharge())) == ["PatientDischarged"]


def test_a_discharged_session_cannot_be_discharged_again() -> None:
    with pytest.raises(RuleViolation, match="cannot discharge: dosing session 1 is discharged"):
        when(given(*MONITORED, discharge()), discharge(at=after_infusion(hours=2, minutes=5)))


def test_a_discharge_ends_the_session_so_the_next_one_can_be_booked() -> None:
    state = given(*PREPARED, *completed_session(SESSION, DOSED_AT))
    assert state.sessions[SESSION].status is DosingStatus.DISCHARGED
    assert types(when(state, schedule(session_id(2)))) == ["DosingSessionScheduled"]


# --- charted times -----------------------------------------------------------------------------

# (field, course so far, the command charting it at a given time, a time in the past to chart)
CHARTED: list[tuple[str, SoFar, Charting, datetime]] = [
    ("held_at", OPENED, lambda at: preparation(at=at), PREPARED_AT),
    ("measured_at", BOOKED, lambda at: check_in(at=at), CHECKED_IN_AT),
    ("administered_at", CHECKED_IN, lambda at: dose(at=at), DOSED_AT),
    ("measured_at", DOSED, lambda at: vitals(at=at), after_dose(minutes=45)),
    ("observed_at", DOSED, lambda at: observation(at=at), after_dose(minutes=20)),
    ("occurred_at", DOSED, lambda at: adverse_event(at=at), after_dose(minutes=25)),
    ("discharged_at", MONITORED, lambda at: discharge(at=at), after_infusion(hours=2)),
]
CHARTED_IDS = [
    "preparation",
    "check-in",
    "dose",
    "vitals",
    "observation",
    "adverse-event",
    "discharge",
]


@pytest.mark.parametrize("field, so_far, chart, _past", CHARTED, ids=CHARTED_IDS)
def test_a_charted_time_beyond_the_5_minute_clock_skew_is_invalid_naming_the_field(
    field: str, so_far: SoFar, chart: Charting, _past: datetime
) -> None:
    with pytest.raises(InvalidField) as invalid:
        when(given(*so_far), chart(NOW + timedelta(minutes=5, seconds=1)))
    assert invalid.value.field == field and "must not be in the future" in invalid.value.message


@pytest.mark.parametrize(
    "field, so_far, chart, _past",
    CHARTED[:-1],
    ids=CHARTED_IDS[:-1],  # not the discharge
)
def test_a_charted_time_within_the_clock_skew_is_accepted(
    field: str, so_far: SoFar, chart: Charting, _past: datetime
) -> None:
    at = NOW + timedelta(minutes=5)
    if field == "administered_at":  # a dose needs a recent check-in
        so_far = (*BOOKED, check_in(at=NOW))
    first = when(given(*so_far), chart(at))[0]
    assert getattr(first, field) == at


def test_a_discharge_may_not_be_charted_ahead_even_within_the_clock_skew() -> None:
    # The skew allowance must not shorten the observation window.
    with pytest.raises(InvalidField, match="discharged_at: must not be in the future"):
        when(given(*MONITORED), discharge(at=NOW + timedelta(minutes=1)))


@pytest.mark.parametrize("field, so_far, chart, past", CHARTED, ids=CHARTED_IDS)
def test_a_charted_time_in_the_past_is_kept_as_charted(
    field: str, so_far: SoFar, chart: Charting, past: datetime
) -> None:
    assert past < NOW - timedelta(minutes=30)
    first = when(given(*so_far), chart(past))[0]
    assert getattr(first, field) == past


# --- not found ---------------------------------------------------------------------------------

STAFF_COMMANDS = [
    ("preparation", preparation()),
    ("schedule", schedule()),
    ("check-in", check_in()),
    ("dose", dose()),
    ("vitals", vitals()),
    ("observation", observation()),
    ("adverse-event", adverse_event()),
    ("discharge", discharge()),
    ("suspend", suspend()),
    ("resume", resume()),
]


@pytest.mark.parametrize(
    "command", [c for _, c in STAFF_COMMANDS], ids=[name for name, _ in STAFF_COMMANDS]
)
def test_a_staff_command_for_a_patient_without_a_course_is_not_found(
    command: CourseCommand,
) -> None:
    with pytest.raises(NotFound, match="no course for this patient"):
        when(given(), command)


def test_a_patient_barred_by_a_consent_withdrawal_is_told_why_there_is_no_course() -> None:
    with pytest.raises(NotFound, match=r"none may open \(consent withdrawn\); new consent"):
        when(given(consent_withdrawn()), preparation())


SESSION_COMMANDS = [
    ("check-in", check_in(session=UNKNOWN_SESSION)),
    ("dose", dose(session=UNKNOWN_SESSION)),
    ("vitals", vitals(session=UNKNOWN_SESSION)),
    ("observation", observation(session=UNKNOWN_SESSION)),
    ("adverse-event", adverse_event(session=UNKNOWN_SESSION)),
    ("discharge", discharge(session=UNKNOWN_SESSION)),
]


@pytest.mark.parametrize(
    "command", [c for _, c in SESSION_COMMANDS], ids=[name for name, _ in SESSION_COMMANDS]
)
def test_a_command_for_an_unknown_dosing_session_is_not_found(command: CourseCommand) -> None:
    with pytest.raises(NotFound, match=str(UNKNOWN_SESSION)):
        when(given(*MONITORED), command)


def test_a_session_command_without_a_session_id_is_not_found() -> None:
    with pytest.raises(NotFound, match="no dosing session None"):
        when(given(*MONITORED), replace(vitals(), session_id=None))


# --- entries that cannot be right ---------------------------------------------------------------


def test_an_observation_charted_before_the_dose_is_invalid() -> None:
    with pytest.raises(InvalidField) as invalid:
        when(given(*DOSED), observation(at=DOSED_AT - timedelta(minutes=1)))
    assert invalid.value.field == "observed_at"


def test_a_discharge_charted_before_the_dose_is_invalid() -> None:
    with pytest.raises(InvalidField) as invalid:
        when(given(*MONITORED), discharge(at=DOSED_AT - timedelta(minutes=10)))
    assert invalid.value.field == "discharged_at"


def test_a_dose_too_small_to_be_real_is_invalid_even_with_an_override() -> None:
    with pytest.raises(InvalidField) as invalid:
        when(given(*CHECKED_IN), dose(Route.IV, 0.003, override=RATIONALE))
    assert invalid.value.field == "dose_mg"


def test_the_range_check_uses_the_exact_mg_per_kg_not_the_rounded_one() -> None:
    with pytest.raises(RuleViolation, match="outside the iv policy range"):
        when(given(*CHECKED_IN), dose(Route.IV, 60.003))


# --- the end of the course (integration completes or discontinues it) ----------------------------


def test_a_course_ended_in_integration_takes_no_more_sessions() -> None:
    from uuid import UUID

    from carepath.contracts.session import CourseEndReason
    from carepath.session.domain import EndCourse

    ended_by = UUID("e0d0e0d0-0000-4000-8000-000000000009")
    state = given(*OPENED)
    [ended] = when(state, EndCourse(reason=CourseEndReason.COMPLETED, ended_by_event_id=ended_by))
    state = DECIDER.fold_onto(state, [ended])
    assert (
        when(state, EndCourse(reason=CourseEndReason.COMPLETED, ended_by_event_id=ended_by)) == []
    )
    with pytest.raises(RuleViolation, match="the course has ended"):
        when(state, schedule())
