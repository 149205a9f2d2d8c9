"""After the induction: a maintenance phase with its own plan (clinic policy: how many sessions,
how far apart), started by a clinician once the induction plan is dosed."""

from datetime import datetime, timedelta

import pytest
from session_fixtures import (
    NOW,
    POLICY,
    PREPARED,
    RATIONALE,
    check_in,
    discharge,
    dose,
    given,
    schedule,
    session_id,
    staff,
    vitals,
    when,
)

from carepath.chassis.errors import InvalidField, RuleViolation
from carepath.contracts.session import (
    AddBoosterSession,
    BoosterSessionAdded,
    CoursePhase,
    DosingSessionScheduled,
    MaintenancePhaseStarted,
    StartMaintenance,
)
from carepath.session.domain import CourseCommand

FIRST_VISIT = datetime(2026, 11, 12, 9, 30, tzinfo=NOW.tzinfo)  # after the preparation
INDUCTION = POLICY.course.planned_dosing_sessions
GAP = timedelta(days=POLICY.maintenance.min_interval_days)


def visit(number: int, day: datetime) -> list[CourseCommand]:
    """A whole uneventful IV dosing visit on `day` (09:30 booked, discharged after the window)."""
    session, dosed = session_id(number), day + timedelta(minutes=30)
    return [
        schedule(session, scheduled_for=day, now=day - timedelta(days=1)),
        check_in(session=session, at=day + timedelta(minutes=15), now=day + timedelta(minutes=15)),
        dose(session=session, at=dosed, now=dosed),
        vitals(session=session, at=dosed + timedelta(minutes=45), now=dosed + timedelta(hours=1)),
        discharge(session=session, at=dosed + timedelta(hours=3), now=dosed + timedelta(hours=3)),
    ]


def induction(doses: int = INDUCTION) -> list[CourseCommand]:
    return [c for n in range(doses) for c in visit(n + 1, FIRST_VISIT + timedelta(days=3 * n))]


LAST_INDUCTION_DOSE = FIRST_VISIT + timedelta(days=3 * (INDUCTION - 1), minutes=30)
START = staff(StartMaintenance(rationale=RATIONALE), now=NOW)


def test_maintenance_cannot_start_before_the_induction_plan_is_dosed() -> None:
    with pytest.raises(RuleViolation, match=f"{INDUCTION - 1} of {INDUCTION} induction doses"):
        when(given(*PREPARED, *induction(INDUCTION - 1)), START)


def test_after_the_induction_the_next_booking_needs_a_maintenance_phase() -> None:
    with pytest.raises(RuleViolation, match="a clinician may start a maintenance phase"):
        when(given(*PREPARED, *induction()), schedule(session_id(99), scheduled_for=NOW))


def test_a_maintenance_phase_records_its_plan_from_the_policy() -> None:
    [started] = when(given(*PREPARED, *induction()), START)
    assert isinstance(started, MaintenancePhaseStarted)
    plan = POLICY.maintenance
    assert (started.planned_sessions, started.min_interval_days, started.max_interval_days) == (
        plan.sessions,
        plan.min_interval_days,
        plan.max_interval_days,
    )
    assert (started.induction_doses, started.policy_version) == (INDUCTION, POLICY.version)


@pytest.mark.parametrize(
    "after_last_dose, allowed",
    [(GAP - timedelta(minutes=1), False), (GAP, True), (GAP + timedelta(days=7), True)],
)
def test_a_maintenance_session_is_booked_at_least_the_policy_interval_after_the_last_dose(
    after_last_dose: timedelta, allowed: bool
) -> None:
    booking = schedule(session_id(50), scheduled_for=LAST_INDUCTION_DOSE + after_last_dose)
    state = given(*PREPARED, *induction(), START)
    if not allowed:
        with pytest.raises(InvalidField, match="scheduled_for"):
            when(state, booking)
        return
    [booked] = when(state, booking)
    assert isinstance(booked, DosingSessionScheduled) and booked.phase is CoursePhase.MAINTENANCE


def test_no_dosing_beyond_the_maintenance_plan() -> None:
    day = LAST_INDUCTION_DOSE + GAP
    maintenance = []
    for number in range(POLICY.maintenance.sessions):
        maintenance += visit(INDUCTION + 1 + number, day)
        day += GAP + timedelta(days=1)
    state = given(*PREPARED, *induction(), START, *maintenance)
    assert state.doses_given == INDUCTION + POLICY.maintenance.sessions
    with pytest.raises(RuleViolation, match="completes with the final outcome measure"):
        when(state, schedule(session_id(99), scheduled_for=day))


def test_maintenance_starts_once() -> None:
    with pytest.raises(RuleViolation, match="already started"):
        when(given(*PREPARED, *induction(), START), START)


BOOSTER = staff(AddBoosterSession(rationale=RATIONALE), now=NOW)


def test_a_booster_belongs_to_the_maintenance_phase() -> None:
    with pytest.raises(RuleViolation, match="start it first"):
        when(given(*PREPARED, *induction()), BOOSTER)


def test_a_booster_adds_one_session_to_the_plan_up_to_the_policy_limit() -> None:
    state = given(*PREPARED, *induction(), START)
    most = POLICY.maintenance.max_boosters
    boosted = given(*PREPARED, *induction(), START, *[BOOSTER] * most)
    assert boosted.planned_doses == state.planned_doses + most
    [added] = when(state, BOOSTER)
    assert isinstance(added, BoosterSessionAdded)
    assert (added.boosters, added.max_boosters) == (1, most)
    with pytest.raises(RuleViolation, match=f"its {most} boosters"):
        when(boosted, BOOSTER)
