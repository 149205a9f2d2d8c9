"""Given/when/then for the intake decider: no database, no broker."""

from datetime import date
from uuid import uuid4

import pytest

from carepath.chassis.errors import RuleViolation
from carepath.contracts import PatientReferred, ReferPatient
from carepath.intake.domain import IntakeState, IntakeStatus, intake

PATIENT = uuid4()
REFER = ReferPatient(
    patient_id=PATIENT,
    given_name="Ada",
    family_name="Byron",
    date_of_birth=date(1985, 12, 10),
    referral_reason="ptsd",
    referrer="Dr Lee",
)


def test_referring_a_new_patient_records_the_referral() -> None:
    [event] = intake.decide(intake.initial_state, REFER)

    assert isinstance(event, PatientReferred)
    assert event.patient_id == PATIENT
    assert event.referral_reason == "ptsd"


def test_a_referred_patient_is_in_status_referred() -> None:
    state = intake.fold(intake.decide(intake.initial_state, REFER))

    assert state.status is IntakeStatus.REFERRED
    assert state.patient_id == PATIENT
    assert state.referral is not None and state.referral.family_name == "Byron"


def test_referring_the_same_patient_twice_is_refused() -> None:
    given = intake.fold(intake.decide(intake.initial_state, REFER))

    with pytest.raises(RuleViolation, match="already referred"):
        intake.decide(given, REFER)


def test_the_initial_state_knows_no_patient() -> None:
    assert intake.initial_state == IntakeState()
