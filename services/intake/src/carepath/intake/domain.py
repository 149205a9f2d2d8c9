"""The intake decider: a patient's intake record as pure `decide` and `evolve`. No I/O here."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from uuid import UUID

from carepath.chassis.decider import Decider
from carepath.chassis.errors import RuleViolation
from carepath.contracts import DomainEvent, PatientReferred, ReferPatient, Referral

IntakeCommand = ReferPatient


class IntakeStatus(StrEnum):
    """Where a patient is in intake."""

    NOT_REFERRED = "not_referred"
    REFERRED = "referred"


@dataclass(frozen=True)
class IntakeState:
    """What intake knows about one patient."""

    status: IntakeStatus = IntakeStatus.NOT_REFERRED
    patient_id: UUID | None = None
    referral: Referral | None = None


def stream_id(patient_id: UUID) -> str:
    """The event stream of a patient's intake record."""
    return f"intake-{patient_id}"


def decide(state: IntakeState, command: IntakeCommand) -> Sequence[DomainEvent]:
    """The events a command leads to, or `RuleViolation` when it does not fit the state."""
    match command:
        case ReferPatient():
            return refer_patient(state, command)
    raise TypeError(f"intake cannot handle {type(command).__name__}")


def refer_patient(state: IntakeState, command: ReferPatient) -> list[DomainEvent]:
    if state.status is not IntakeStatus.NOT_REFERRED:
        raise RuleViolation(f"patient {state.patient_id} is already referred")
    return [PatientReferred(**command.model_dump())]


def evolve(state: IntakeState, event: DomainEvent) -> IntakeState:
    """The state after one event."""
    match event:
        case PatientReferred():
            referral = Referral(**event.model_dump(exclude={"patient_id"}))
            return replace(
                state, status=IntakeStatus.REFERRED, patient_id=event.patient_id, referral=referral
            )
    return state


intake = Decider(decide=decide, evolve=evolve, initial_state=IntakeState())
