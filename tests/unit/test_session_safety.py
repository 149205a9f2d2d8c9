"""Clinical safety at the boundaries (issue 16): no dose after the course ended or on stale
vitals, the dose range in exact arithmetic, no discharge on a reading taken before the expected
peak or before the observation window from the end of administration has passed."""

from datetime import timedelta
from uuid import uuid4

import pytest
from session_fixtures import (
    BOOKED,
    CHECKED_IN,
    DOSED,
    DOSED_AT,
    MONITORED,
    NOW,
    POLICY,
    PREPARED,
    after_dose,
    after_infusion,
    check_in,
    discharge,
    dose,
    given,
    schedule,
    types,
    vitals,
    when,
)

from carepath.chassis.errors import RuleViolation
from carepath.contracts.session import (
    CourseEndReason,
    DischargeRefusalReason,
    DischargeRefused,
    DoseAdministered,
    PatientDischarged,
    Route,
)
from carepath.session.domain import EndCourse

ENDED = EndCourse(reason=CourseEndReason.DISCONTINUED, ended_by_event_id=uuid4())


# --- 2. no check-in or dose once the course has ended -------------------------------------------


def test_a_session_booked_before_the_course_was_discontinued_cannot_be_checked_in() -> None:
    with pytest.raises(RuleViolation, match="cannot check in for dosing: the course has ended"):
        when(given(*BOOKED, ENDED), check_in())


def test_a_patient_checked_in_before_the_course_was_discontinued_cannot_be_dosed() -> None:
    with pytest.raises(RuleViolation, match="cannot give a dose: the course has ended"):
        when(given(*CHECKED_IN, ENDED), dose())


# --- 4. a dose needs pre-dose vitals within the policy window ---------------------------------


@pytest.mark.parametrize("minutes, allowed", [(60, True), (61, False)], ids=["60min", "61min"])
def test_a_dose_needs_the_check_in_vitals_within_60_minutes(minutes: int, allowed: bool) -> None:
    state = given(*PREPARED, schedule(), check_in(at=DOSED_AT - timedelta(minutes=minutes)))
    if allowed:
        assert types(when(state, dose())) == ["DoseAdministered"]
    else:
        with pytest.raises(RuleViolation, match=r"taken 61 minutes before the dose.*within 60"):
            when(state, dose())
    assert POLICY.check_in.valid_minutes == 60


def test_checking_in_again_renews_stale_vitals() -> None:
    state = given(*PREPARED, schedule(), check_in(at=DOSED_AT - timedelta(hours=3)), check_in())
    assert types(when(state, dose())) == ["DoseAdministered"]


# --- 8. the dose range in exact decimal arithmetic --------------------------------------------


@pytest.mark.parametrize(
    "weight_kg, mg",
    [
        (72.4, 7.24),  # exactly 0.1 mg/kg: refused with float division
        (55.3, 41.475),  # exactly 0.75 mg/kg
        (80.0, 8.0),
        (80.0, 60.0),
        (61.7, 6.17),
        (99.9, 74.925),
    ],
)
def test_a_dose_exactly_at_the_iv_range_edge_is_within_it(weight_kg: float, mg: float) -> None:
    state = given(*PREPARED, schedule(), check_in(weight_kg=weight_kg))
    [given_dose] = when(state, dose(Route.IV, mg))
    assert isinstance(given_dose, DoseAdministered) and given_dose.within_policy_range


@pytest.mark.parametrize("weight_kg, mg", [(72.4, 7.23), (55.3, 41.48)])
def test_a_dose_just_outside_the_iv_range_is_refused(weight_kg: float, mg: float) -> None:
    state = given(*PREPARED, schedule(), check_in(weight_kg=weight_kg))
    with pytest.raises(RuleViolation, match="outside the iv policy range"):
        when(state, dose(Route.IV, mg))


# --- 5. a BP after the expected peak --------------------------------------------------------


@pytest.mark.parametrize("minutes, allowed", [(40, True), (39, False)], ids=["40min", "39min"])
def test_discharge_needs_a_bp_40_minutes_or_more_after_the_dose_started(
    minutes: int, allowed: bool
) -> None:
    state = given(*DOSED, vitals(at=after_dose(minutes=minutes)))
    [decided] = when(state, discharge())
    if allowed:
        assert isinstance(decided, PatientDischarged)
    else:
        assert isinstance(decided, DischargeRefused)
        assert decided.reasons == [DischargeRefusalReason.NO_BLOOD_PRESSURE_AFTER_EXPECTED_PEAK]
        assert "40 minutes or more after the dose started" in decided.explanation


# --- 6. the window runs from the end of administration ----------------------------------------


def test_after_a_40_minute_infusion_two_hours_from_its_start_is_too_early() -> None:
    [decided] = when(given(*MONITORED), discharge(at=after_dose(hours=2)))
    assert isinstance(decided, DischargeRefused)
    assert decided.reasons == [DischargeRefusalReason.OBSERVATION_WINDOW_NOT_ELAPSED]
    assert decided.earliest_discharge_at == after_infusion(hours=2)


def test_for_an_intramuscular_dose_the_window_runs_from_the_injection() -> None:
    state = given(*CHECKED_IN, dose(Route.IM, 60.0), vitals(at=after_dose(minutes=50)))
    [decided] = when(state, discharge(at=after_dose(hours=2)))
    assert isinstance(decided, PatientDischarged) and decided.observation_minutes == 120
    assert after_dose(hours=2) < NOW
