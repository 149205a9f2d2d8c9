"""The course's state: the commands it takes, what it knows, and how each event changes it."""

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from carepath.chassis.errors import NotFound
from carepath.contracts import DomainEvent
from carepath.contracts.session import (
    AddBoosterSession,
    AdministerDose,
    AdverseEventReported,
    BoosterSessionAdded,
    CheckIn,
    CourseBarReason,
    CourseBarred,
    CourseEnded,
    CourseEndReason,
    CourseOpened,
    CourseOpeningBasis,
    CourseResumed,
    CourseSuspended,
    CourseSuspensionReason,
    DischargePatient,
    DischargeRefused,
    DoseAdministered,
    DosingDeferred,
    DosingSessionScheduled,
    MaintenancePhaseStarted,
    ObservationRecorded,
    PatientCheckedIn,
    PatientDischarged,
    PreparationSessionCompleted,
    RecordObservation,
    RecordPreparationSession,
    RecordVitals,
    ReportAdverseEvent,
    ResumeCourse,
    ScheduleDosingSession,
    StartMaintenance,
    SuspendCourse,
    VitalsAlertRaised,
    VitalsRecorded,
)

# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCourse:
    """The patient was cleared (eligible, or approved on review): open a course."""

    patient_id: UUID
    course_id: UUID
    basis: CourseOpeningBasis
    basis_event_id: UUID
    consent_given_at: datetime | None = None  # the consent the clearing screening relied on


@dataclass(frozen=True)
class EndCourse:
    """Integration completed or discontinued the course, or the clinic said no (declined on
    review, screening closed): then a course not opened yet never opens (`patient_id`)."""

    reason: CourseEndReason
    ended_by_event_id: UUID
    patient_id: UUID | None = None
    at: datetime | None = None  # when it happened clinically, if the cause says


@dataclass(frozen=True)
class SuspendForConsentWithdrawal:
    """Consent was withdrawn upstream: suspend the course, or remember it when none is open."""

    withdrawal_event_id: UUID
    patient_id: UUID
    withdrawn_at: datetime | None = None


StaffRequest = (
    RecordPreparationSession
    | ScheduleDosingSession
    | CheckIn
    | AdministerDose
    | RecordVitals
    | RecordObservation
    | ReportAdverseEvent
    | DischargePatient
    | SuspendCourse
    | ResumeCourse
    | StartMaintenance
    | AddBoosterSession
)


@dataclass(frozen=True)
class StaffCommand:
    """A request from staff, when it was made, the dosing session it is about (if any), and the
    id of what it creates (a session, a preparation session)."""

    request: StaffRequest
    now: datetime
    session_id: UUID | None = None
    new_id: UUID | None = None


CourseCommand = OpenCourse | SuspendForConsentWithdrawal | EndCourse | StaffCommand


# --- state ----------------------------------------------------------------------------------


class DosingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    DEFERRED = "deferred"
    MONITORING = "monitoring"
    DISCHARGED = "discharged"


@dataclass(frozen=True)
class DosingSession:
    """One dosing session, as the events so far tell it."""

    scheduled: DosingSessionScheduled
    check_in: PatientCheckedIn | None = None
    deferred: DosingDeferred | None = None
    dose: DoseAdministered | None = None
    vitals: tuple[VitalsRecorded, ...] = ()
    alerts: tuple[VitalsAlertRaised, ...] = ()
    observations: tuple[ObservationRecorded, ...] = ()
    adverse_events: tuple[AdverseEventReported, ...] = ()
    refusals: tuple[DischargeRefused, ...] = ()
    discharged: PatientDischarged | None = None

    @property
    def status(self) -> DosingStatus:
        if self.discharged:
            return DosingStatus.DISCHARGED
        if self.dose:
            return DosingStatus.MONITORING
        if self.deferred:
            return DosingStatus.DEFERRED
        return DosingStatus.CHECKED_IN if self.check_in else DosingStatus.SCHEDULED

    @property
    def is_open(self) -> bool:
        return self.status in (
            DosingStatus.SCHEDULED,
            DosingStatus.CHECKED_IN,
            DosingStatus.MONITORING,
        )

    def last_vitals(self, until: datetime) -> VitalsRecorded | None:
        """The last reading up to `until`; of readings charted at the same time, the highest
        (the safe side)."""
        taken = [v for v in self.vitals if v.measured_at <= until]
        return max(taken, key=lambda v: (v.measured_at, v.systolic, v.diastolic)) if taken else None


@dataclass(frozen=True)
class CourseState:
    """What the session service knows about one patient's course."""

    course: CourseOpened | None = None
    consent_withdrawn: bool = False  # remembered before a course exists, too
    consent_withdrawn_at: datetime | None = None  # the latest withdrawal (None: not known)
    barred: CourseBarred | None = None  # the clinic said no before a course was opened
    suspension: CourseSuspended | None = None
    ended: CourseEnded | None = None
    maintenance: MaintenancePhaseStarted | None = None
    boosters: int = 0
    preparations: tuple[PreparationSessionCompleted, ...] = ()
    sessions: dict[UUID, DosingSession] = field(default_factory=dict)

    def consent_covers(self, consent_given_at: datetime | None) -> bool:
        """Whether consent given at `consent_given_at` came after every withdrawal known."""
        if not self.consent_withdrawn:
            return True
        withdrawn = self.consent_withdrawn_at
        return (
            consent_given_at is not None and withdrawn is not None and consent_given_at > withdrawn
        )

    @property
    def consent_active(self) -> bool:
        """The consent the open course rests on has not been withdrawn since."""
        return self.consent_covers(self.course.consent_given_at if self.course else None)

    def is_new_screening(self, consent_given_at: datetime | None) -> bool:
        """A screening on consent given after everything known: a withdrawal, the consent the
        last course rested on, the clinic's no or the end of the course. Only such a screening
        opens a course after the clinic said no or a course ended."""
        last_course = self.course.consent_given_at if self.course else None
        said_no = [e.occurred_at for e in (self.barred, self.ended) if e is not None]
        known = [t for t in (self.consent_withdrawn_at, last_course, *said_no) if t is not None]
        return consent_given_at is not None and bool(known) and consent_given_at > max(known)

    def is_new_no(self, at: datetime | None) -> bool:
        """Whether a "no" at `at` is later than the one remembered (the first is always new)."""
        if self.barred is None:
            return True
        known = self.barred.occurred_at
        return at is not None and known is not None and at > known

    def session(self, session_id: UUID | None) -> DosingSession:
        if session_id is None or session_id not in self.sessions:
            raise NotFound(f"no dosing session {session_id}")
        return self.sessions[session_id]

    @property
    def doses_given(self) -> int:
        return sum(1 for s in self.sessions.values() if s.dose is not None)

    @property
    def planned_doses(self) -> int:
        """The induction plan, plus the maintenance phase once it has started."""
        induction = self.course.planned_dosing_sessions if self.course else 0
        maintenance = self.maintenance.planned_sessions if self.maintenance else 0
        return induction + maintenance + self.boosters

    @property
    def last_dose(self) -> DoseAdministered | None:
        doses = [s.dose for s in self.sessions.values() if s.dose is not None]
        return max(doses, key=lambda d: d.administered_at, default=None)


def stream_id(patient_id: UUID) -> str:
    """The event stream of a patient's course and its sessions."""
    return f"session-{patient_id}"


# --- evolution ------------------------------------------------------------------------------


def evolve(state: CourseState, event: DomainEvent) -> CourseState:
    """The state after one event."""
    match event:
        case CourseOpened() if state.course is None:
            return replace(state, course=event, barred=None)
        case CourseOpened():  # a new course, after new consent and a new screening
            return CourseState(
                course=event,
                consent_withdrawn=state.consent_withdrawn,
                consent_withdrawn_at=state.consent_withdrawn_at,
            )
        case CourseEnded():
            return replace(state, ended=event)
        case CourseSuspended():
            if event.reason is not CourseSuspensionReason.CONSENT_WITHDRAWN:
                return replace(state, suspension=event)
            return _withdrawn(replace(state, suspension=event), event.occurred_at)
        case CourseBarred():
            if event.reason is not CourseBarReason.CONSENT_WITHDRAWN:
                return replace(state, barred=event)
            return _withdrawn(replace(state, barred=event), event.occurred_at)
        case CourseResumed():
            return replace(state, suspension=None)
        case MaintenancePhaseStarted():
            return replace(state, maintenance=event)
        case BoosterSessionAdded():
            return replace(state, boosters=event.boosters)
        case PreparationSessionCompleted():
            return replace(state, preparations=(*state.preparations, event))
        case DosingSessionScheduled():
            return replace(
                state, sessions={**state.sessions, event.session_id: DosingSession(scheduled=event)}
            )
    session_id = getattr(event, "session_id", None)
    if session_id not in state.sessions:
        return state
    return replace(
        state,
        sessions={**state.sessions, session_id: _evolve_session(state.sessions[session_id], event)},
    )


def _withdrawn(state: CourseState, at: datetime | None) -> CourseState:
    known = state.consent_withdrawn_at
    latest = at if known is None or (at is not None and at > known) else known
    return replace(state, consent_withdrawn=True, consent_withdrawn_at=latest)


def _evolve_session(session: DosingSession, event: DomainEvent) -> DosingSession:
    match event:
        case PatientCheckedIn():
            return replace(session, check_in=event)
        case DosingDeferred():
            return replace(session, deferred=event)
        case DoseAdministered():
            return replace(session, dose=event)
        case VitalsRecorded():
            return replace(session, vitals=(*session.vitals, event))
        case VitalsAlertRaised():
            return replace(session, alerts=(*session.alerts, event))
        case ObservationRecorded():
            return replace(session, observations=(*session.observations, event))
        case AdverseEventReported():
            return replace(session, adverse_events=(*session.adverse_events, event))
        case DischargeRefused():
            return replace(session, refusals=(*session.refusals, event))
        case PatientDischarged():
            return replace(session, discharged=event)
    return session
