"""How integration reacts to intake's and session's events. Pure."""

from dataclasses import dataclass
from uuid import UUID

from carepath.contracts import DomainEvent
from carepath.contracts.common import Instrument
from carepath.contracts.intake import IntakeCompleted
from carepath.contracts.session import CourseOpened, PatientDischarged
from carepath.integration.domain import MakeIntegrationDue, PlanCommand


@dataclass(frozen=True)
class NoteBaselines:
    """Remember the intake baselines (they are intake's facts, not this context's events)."""

    patient_id: UUID
    baselines: dict[Instrument, int]


@dataclass(frozen=True)
class NoteCourse:
    """Remember the course and its plan (session's facts)."""

    patient_id: UUID
    course_id: UUID
    planned_dosing_sessions: int


Reaction = PlanCommand | NoteBaselines | NoteCourse


def reaction_to(event: DomainEvent) -> Reaction | None:
    """What an upstream event means for integration; None for events it ignores."""
    match event:
        case IntakeCompleted():
            totals = {
                Instrument.PHQ9: event.phq9_total,
                Instrument.GAD7: event.gad7_total,
                Instrument.PCL5: event.pcl5_total,
            }
            return NoteBaselines(
                event.patient_id, {k: v for k, v in totals.items() if v is not None}
            )
        case CourseOpened():
            return NoteCourse(event.patient_id, event.course_id, event.planned_dosing_sessions)
        case PatientDischarged():
            return MakeIntegrationDue(discharged=event)
    return None
