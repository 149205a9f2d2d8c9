"""How the session service reacts to eligibility's and intake's events: event in, command out."""

from uuid import UUID, uuid5

from carepath.contracts import DomainEvent
from carepath.contracts.eligibility import (
    EligibilityDetermined,
    EligibilityOutcome,
    EligibilityReviewed,
    ReviewDecision,
    ScreeningClosed,
)
from carepath.contracts.intake import ConsentWithdrawn
from carepath.contracts.integration import CourseCompleted, CourseDiscontinued
from carepath.contracts.session import CourseEndReason, CourseOpeningBasis
from carepath.session.domain import (
    CourseCommand,
    EndCourse,
    OpenCourse,
    SuspendForConsentWithdrawal,
)

# Course ids derive from the event that opened the course, so a redelivery opens the same course.
COURSE_NAMESPACE = UUID("3c1f7a52-9b7e-4d0c-a8e1-5f2b6c9d0e47")


def command_for(event: DomainEvent, event_id: UUID) -> CourseCommand | None:
    """The course command an upstream event calls for; None for events the service ignores."""
    match event:
        case EligibilityDetermined(outcome=EligibilityOutcome.ELIGIBLE):
            return _open(event, CourseOpeningBasis.ELIGIBLE, event_id)
        case EligibilityReviewed(decision=ReviewDecision.APPROVE):
            return _open(event, CourseOpeningBasis.REVIEW_APPROVED, event_id)
        case ConsentWithdrawn():
            return SuspendForConsentWithdrawal(
                withdrawal_event_id=event_id,
                patient_id=event.patient_id,
                withdrawn_at=event.withdrawn_at,
            )
        case EligibilityReviewed(decision=ReviewDecision.DECLINE):
            return _end(CourseEndReason.SCREENING_DECLINED, event, event_id, event.patient_id)
        case ScreeningClosed():
            return _end(CourseEndReason.SCREENING_CLOSED, event, event_id, event.patient_id)
        case CourseCompleted():
            return _end(CourseEndReason.COMPLETED, event, event_id)
        case CourseDiscontinued():
            return _end(CourseEndReason.DISCONTINUED, event, event_id)
    return None


def _end(
    reason: CourseEndReason, event: DomainEvent, event_id: UUID, patient_id: UUID | None = None
) -> EndCourse:
    return EndCourse(reason, event_id, patient_id=patient_id, at=event.occurred_at)


def _open(
    cleared: EligibilityDetermined | EligibilityReviewed, basis: CourseOpeningBasis, event_id: UUID
) -> OpenCourse:
    return OpenCourse(
        patient_id=cleared.patient_id,
        course_id=uuid5(COURSE_NAMESPACE, str(event_id)),
        basis=basis,
        basis_event_id=event_id,
        consent_given_at=cleared.consent_given_at,
    )
