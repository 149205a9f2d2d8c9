"""The way back after a consent withdrawal (DOMAIN.md, After induction): only new consent and a
new screening. Intake completes again on the new consent, eligibility screens again, and the
session service opens a new course only on a screening whose consent came after every
withdrawal it knows, whatever order the topics arrive in."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from intake_fixtures import CONSENT, FORM, NO_CSSRS, phq9_total, refer
from intake_fixtures import given as intake_given
from intake_fixtures import types as intake_types
from intake_fixtures import when as intake_when
from session_fixtures import (
    PATIENT,
    POLICY,
    check_in,
    dose,
    preparation,
    schedule,
    session_id,
    types,
)
from session_fixtures import given as session_given
from session_fixtures import when as session_when
from test_eligibility_screening import intake

from carepath.chassis.errors import InvalidField, RuleViolation
from carepath.contracts.eligibility import EligibilityDetermined, ScreeningStarted
from carepath.contracts.intake import IntakeCompleted, WithdrawConsent
from carepath.contracts.session import CourseEndReason, CourseOpened, CourseOpeningBasis
from carepath.eligibility.clinic_policy import load_policy as eligibility_policy
from carepath.eligibility.domain import CloseScreening, StartScreening, screening_decider
from carepath.session.domain import EndCourse, OpenCourse, SuspendForConsentWithdrawal

FIRST_CONSENT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
WITHDRAWN = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
NEW_CONSENT = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)


# --- intake: new consent completes intake again -------------------------------------------------


def consent(at: datetime):  # type: ignore[no-untyped-def]
    return CONSENT.model_copy(update={"given_at": at})


def test_new_consent_after_a_withdrawal_completes_intake_again_on_the_new_consent() -> None:
    withdrawn = intake_given(
        refer(),
        FORM,
        phq9_total(16),
        NO_CSSRS,
        consent(FIRST_CONSENT),
        WithdrawConsent(withdrawn_at=WITHDRAWN),
    )
    events = intake_when(withdrawn, consent(NEW_CONSENT))
    assert intake_types(events) == ["ConsentGiven", "IntakeCompleted"]
    assert isinstance(events[1], IntakeCompleted) and events[1].consent_given_at == NEW_CONSENT


def test_new_consent_is_charted_after_the_withdrawal() -> None:
    withdrawn = intake_given(
        refer(),
        FORM,
        phq9_total(16),
        NO_CSSRS,
        consent(FIRST_CONSENT),
        WithdrawConsent(withdrawn_at=WITHDRAWN),
    )
    with pytest.raises(InvalidField, match="given_at"):
        intake_when(withdrawn, consent(WITHDRAWN - timedelta(minutes=1)))


# --- eligibility: a new screening ---------------------------------------------------------------

SCREENING = screening_decider(eligibility_policy())


def completed(consent_given_at: datetime) -> StartScreening:
    return StartScreening(intake=intake(consent_given_at=consent_given_at), intake_event_id=uuid4())


def test_intake_completed_again_on_new_consent_starts_a_new_screening() -> None:
    first = SCREENING.fold(SCREENING.decide(SCREENING.initial_state, completed(FIRST_CONSENT)))
    closed = SCREENING.fold_onto(first, SCREENING.decide(first, CloseScreening(PATIENT)))
    events = SCREENING.decide(closed, completed(NEW_CONSENT))
    assert [type(e) for e in events] == [ScreeningStarted, EligibilityDetermined]
    assert isinstance(events[1], EligibilityDetermined)
    assert events[1].consent_given_at == NEW_CONSENT
    assert SCREENING.fold_onto(closed, events).closed is None  # a new screening, open again


def test_no_new_screening_while_the_screening_is_open() -> None:
    first = SCREENING.fold(SCREENING.decide(SCREENING.initial_state, completed(FIRST_CONSENT)))
    assert SCREENING.decide(first, completed(NEW_CONSENT)) == []


# --- session: a new course only on consent after every withdrawal -------------------------------


def cleared(consent_given_at: datetime | None) -> OpenCourse:
    return OpenCourse(
        patient_id=PATIENT,
        course_id=uuid4(),
        basis=CourseOpeningBasis.ELIGIBLE,
        basis_event_id=uuid4(),
        consent_given_at=consent_given_at,
    )


def withdrawal(at: datetime) -> SuspendForConsentWithdrawal:
    return SuspendForConsentWithdrawal(
        withdrawal_event_id=uuid4(), patient_id=PATIENT, withdrawn_at=at
    )


CLOSED = EndCourse(CourseEndReason.SCREENING_CLOSED, ended_by_event_id=uuid4(), patient_id=PATIENT)


def test_a_withdrawal_before_any_course_then_a_new_screening_opens_a_course() -> None:
    state = session_given(withdrawal(WITHDRAWN), CLOSED)
    assert session_when(state, cleared(FIRST_CONSENT)) == []  # the old screening: no
    assert types(session_when(state, cleared(NEW_CONSENT))) == ["CourseOpened"]


def test_after_a_course_ended_for_a_withdrawal_a_new_screening_opens_a_new_course() -> None:
    state = session_given(cleared(FIRST_CONSENT), withdrawal(WITHDRAWN), CLOSED)
    [opened] = session_when(state, cleared(NEW_CONSENT))
    assert isinstance(opened, CourseOpened) and opened.consent_given_at == NEW_CONSENT
    new_course = session_given(
        cleared(FIRST_CONSENT), withdrawal(WITHDRAWN), CLOSED, cleared(NEW_CONSENT), preparation()
    )
    assert new_course.ended is None and new_course.suspension is None and not new_course.sessions
    booked = session_given(
        cleared(FIRST_CONSENT),
        withdrawal(WITHDRAWN),
        CLOSED,
        cleared(NEW_CONSENT),
        preparation(),
        schedule(),
        check_in(),
    )
    assert types(session_when(booked, dose())) == ["DoseAdministered"]


def test_a_withdrawal_older_than_the_new_consent_does_not_touch_the_new_course() -> None:
    # The eligibility topic ran ahead: the new screening came before the withdrawal it follows.
    state = session_given(cleared(FIRST_CONSENT), CLOSED, cleared(NEW_CONSENT))
    assert session_when(state, withdrawal(WITHDRAWN)) == []


def test_a_withdrawal_after_the_new_consent_stops_the_new_course() -> None:
    state = session_given(
        cleared(FIRST_CONSENT),
        withdrawal(WITHDRAWN),
        CLOSED,
        cleared(NEW_CONSENT),
        preparation(),
        schedule(),
        check_in(),
    )
    again = session_given(
        cleared(FIRST_CONSENT),
        withdrawal(WITHDRAWN),
        CLOSED,
        cleared(NEW_CONSENT),
        preparation(),
        schedule(),
        check_in(),
        withdrawal(NEW_CONSENT + timedelta(days=1)),
    )
    assert types(session_when(state, withdrawal(NEW_CONSENT + timedelta(days=1)))) == [
        "CourseSuspended"
    ]
    with pytest.raises(RuleViolation, match="consent was withdrawn"):
        session_when(again, dose())


def test_a_screening_on_consent_withdrawn_again_before_it_arrives_opens_nothing() -> None:
    second_withdrawal = NEW_CONSENT + timedelta(days=1)
    state = session_given(withdrawal(WITHDRAWN), withdrawal(second_withdrawal))
    assert session_when(state, cleared(NEW_CONSENT)) == []


def test_a_completed_course_is_not_reopened_by_a_redelivered_screening() -> None:
    completed = EndCourse(CourseEndReason.COMPLETED, ended_by_event_id=uuid4())
    state = session_given(cleared(FIRST_CONSENT), completed)
    assert session_when(state, cleared(FIRST_CONSENT)) == []


def test_a_new_screening_after_a_decline_needs_a_withdrawal_and_new_consent_in_between() -> None:
    declined = EndCourse(
        CourseEndReason.SCREENING_DECLINED, ended_by_event_id=uuid4(), patient_id=PATIENT
    )
    assert session_when(session_given(declined), cleared(FIRST_CONSENT)) == []
    state = session_given(declined, withdrawal(WITHDRAWN))
    assert types(session_when(state, cleared(NEW_CONSENT))) == ["CourseOpened"]


def test_the_policy_plan_applies_to_the_new_course() -> None:
    state = session_given(cleared(FIRST_CONSENT), withdrawal(WITHDRAWN), CLOSED)
    [opened] = session_when(state, cleared(NEW_CONSENT))
    assert isinstance(opened, CourseOpened)
    assert opened.planned_dosing_sessions == POLICY.course.planned_dosing_sessions
    assert (
        session_id(1)
        not in session_given(
            cleared(FIRST_CONSENT), withdrawal(WITHDRAWN), CLOSED, cleared(NEW_CONSENT)
        ).sessions
    )
