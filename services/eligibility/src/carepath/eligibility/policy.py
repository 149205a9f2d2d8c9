"""How eligibility reacts to intake's events: event in, command out. Pure."""

from uuid import UUID

from carepath.contracts import DomainEvent
from carepath.contracts.intake import ConsentWithdrawn, IntakeCompleted
from carepath.eligibility.domain import CloseScreening, ScreeningCommand, StartScreening


def command_for(event: DomainEvent, event_id: UUID) -> ScreeningCommand | None:
    """The screening command an intake event calls for; None for the events eligibility ignores."""
    match event:
        case IntakeCompleted():
            return StartScreening(intake=event, intake_event_id=event_id)
        case ConsentWithdrawn():
            return CloseScreening(patient_id=event.patient_id)
    return None
