"""How integration reacts to intake's and session's events: event in, command out; and the
upstream facts it keeps (baselines, the course plan). Pure."""

from dataclasses import dataclass
from uuid import UUID

from carepath.contracts import DomainEvent
from carepath.contracts.common import Instrument
from carepath.contracts.intake import IntakeCompleted, ReferralReason
from carepath.contracts.session import (
    BoosterSessionAdded,
    CourseOpened,
    MaintenancePhaseStarted,
    PatientDischarged,
)
from carepath.integration.domain import MakeIntegrationDue, PlanCommand


@dataclass(frozen=True)
class NoteBaselines:
    """Remember the intake baselines and the indication (intake's facts, not this context's
    events)."""

    patient_id: UUID
    baselines: dict[Instrument, int]
    referral_reason: ReferralReason


@dataclass(frozen=True)
class NoteCourse:
    """Remember the course and its plan (session's facts)."""

    patient_id: UUID
    course_id: UUID
    planned_dosing_sessions: int


@dataclass(frozen=True)
class NoteMaintenance:
    """Remember the maintenance phase's sessions: completion waits for them too."""

    patient_id: UUID
    planned_sessions: int


@dataclass(frozen=True)
class NoteBooster:
    """Remember a booster added to the maintenance phase: completion waits for it too."""

    patient_id: UUID
    boosters: int


Fact = NoteBaselines | NoteCourse | NoteMaintenance | NoteBooster


def command_for(event: DomainEvent, _event_id: UUID) -> PlanCommand | None:
    """The plan command an upstream event calls for; None for the events integration ignores."""
    match event:
        case PatientDischarged():
            return MakeIntegrationDue(discharged=event)
    return None


def fact_from(event: DomainEvent) -> Fact | None:
    """The upstream fact an event tells integration; None for the others."""
    match event:
        case IntakeCompleted():
            totals = {
                Instrument.PHQ9: event.phq9_total,
                Instrument.GAD7: event.gad7_total,
                Instrument.PCL5: event.pcl5_total,
                Instrument.PAIN_NRS: event.pain_nrs_total,
            }
            baselines = {k: v for k, v in totals.items() if v is not None}
            return NoteBaselines(event.patient_id, baselines, event.referral_reason)
        case CourseOpened():
            return NoteCourse(event.patient_id, event.course_id, event.planned_dosing_sessions)
        case MaintenancePhaseStarted():
            return NoteMaintenance(event.patient_id, event.planned_sessions)
        case BoosterSessionAdded():
            return NoteBooster(event.patient_id, event.boosters)
    return None
