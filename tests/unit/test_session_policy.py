"""The session service's reactions to other services' events (event in, command out): the
clinic saying no after a course opened closes it; a consent withdrawal is remembered."""

from uuid import uuid4

from carepath.contracts.eligibility import (
    EligibilityOutcome,
    EligibilityReviewed,
    ReviewDecision,
    ScreeningClosed,
    ScreeningClosureReason,
)
from carepath.contracts.intake import ConsentWithdrawn
from carepath.contracts.session import CourseEndReason
from carepath.session.domain import EndCourse, SuspendForConsentWithdrawal
from carepath.session.policy import command_for

PATIENT = uuid4()


def review(decision: ReviewDecision) -> EligibilityReviewed:
    return EligibilityReviewed(
        patient_id=PATIENT,
        decision=decision,
        rationale="Reviewed with the patient and their GP.",
        automatic_outcome=EligibilityOutcome.ELIGIBLE,
        reviewed_determination_event_id=uuid4(),
    )


def test_a_decline_on_review_ends_the_course_even_after_an_automatic_eligible() -> None:
    event_id = uuid4()
    command = command_for(review(ReviewDecision.DECLINE), event_id)
    assert command == EndCourse(
        reason=CourseEndReason.SCREENING_DECLINED, ended_by_event_id=event_id, patient_id=PATIENT
    )


def test_a_closed_screening_ends_the_course() -> None:
    event_id = uuid4()
    closed = ScreeningClosed(patient_id=PATIENT, reason=ScreeningClosureReason.CONSENT_WITHDRAWN)
    assert command_for(closed, event_id) == EndCourse(
        reason=CourseEndReason.SCREENING_CLOSED, ended_by_event_id=event_id, patient_id=PATIENT
    )


def test_a_consent_withdrawal_names_the_patient_so_it_can_be_remembered_before_a_course() -> None:
    event_id = uuid4()
    withdrawn = ConsentWithdrawn(patient_id=PATIENT, withdrawn_at="2026-11-20T10:00:00+00:00")
    assert command_for(withdrawn, event_id) == SuspendForConsentWithdrawal(
        withdrawal_event_id=event_id, patient_id=PATIENT, withdrawn_at=withdrawn.withdrawn_at
    )
