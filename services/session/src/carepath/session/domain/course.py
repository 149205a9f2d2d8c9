"""The course decider: one patient's treatment course and its sessions, as pure `decide` and
`evolve`. No I/O here.

A course opens when the patient is cleared; preparation comes before the first dose; each dosing
session runs scheduled -> checked in (or deferred for BP) -> dosed (monitoring) -> discharged.
Clinical times are charted by staff: they may lie in the past, never in the future, and the
rules use them.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from carepath.chassis.charting import charted
from carepath.chassis.decider import Decider
from carepath.chassis.errors import InvalidField, NotFound, RuleViolation
from carepath.contracts import DomainEvent
from carepath.contracts.session import (
    AddBoosterSession,
    AdministerDose,
    BoosterSessionAdded,
    CheckIn,
    CourseBarReason,
    CourseBarred,
    CourseEnded,
    CourseEndReason,
    CourseOpened,
    CoursePhase,
    CourseResumed,
    CourseSuspended,
    CourseSuspensionReason,
    DischargePatient,
    DosingSessionScheduled,
    MaintenancePhaseStarted,
    PreparationSessionCompleted,
    RecordObservation,
    RecordPreparationSession,
    RecordVitals,
    ReportAdverseEvent,
    ResumeCourse,
    ScheduleDosingSession,
    StartMaintenance,
    SuspendCourse,
)
from carepath.session.clinic_policy import SessionPolicy
from carepath.session.domain.dosing import (
    administer_dose,
    check_consent_is_active,
    check_in,
    check_not_ended,
    check_not_suspended,
    discharge,
    record_observation,
    record_vitals,
    report_adverse_event,
)
from carepath.session.domain.state import (
    CourseCommand,
    CourseState,
    EndCourse,
    OpenCourse,
    StaffCommand,
    SuspendForConsentWithdrawal,
    evolve,
)

# --- decisions ------------------------------------------------------------------------------


def course_decider(policy: SessionPolicy) -> Decider[CourseState, CourseCommand]:
    """The course decider under a clinic policy."""

    def decide(state: CourseState, command: CourseCommand) -> Sequence[DomainEvent]:
        match command:
            case OpenCourse():
                return open_course(state, command, policy)
            case SuspendForConsentWithdrawal():
                return suspend_for_consent(state, command)
            case EndCourse():
                return end_course(state, command)
            case StaffCommand():
                return _staff(state, command, policy)
        raise TypeError(f"session cannot handle {type(command).__name__}")

    return Decider(decide=decide, evolve=evolve, initial_state=CourseState())


def open_course(
    state: CourseState, command: OpenCourse, policy: SessionPolicy
) -> list[DomainEvent]:
    if state.course is not None and state.ended is None:
        return []  # already open: a redelivery, or an approval after an automatic `eligible`
    if not state.consent_covers(command.consent_given_at):
        return []  # consent was withdrawn after the consent this screening relied on
    said_no = state.course is not None or state.barred is not None
    if said_no and not state.is_new_screening(command.consent_given_at):
        return []  # the clinic said no, or the course ended: only new consent and a new screening
    return [
        CourseOpened(
            patient_id=command.patient_id,
            course_id=command.course_id,
            basis=command.basis,
            basis_event_id=command.basis_event_id,
            planned_dosing_sessions=policy.course.planned_dosing_sessions,
            planned_weeks=policy.course.planned_weeks,
            policy_version=policy.version,
            consent_given_at=command.consent_given_at,
        )
    ]


BARRING = {
    CourseEndReason.SCREENING_DECLINED: CourseBarReason.SCREENING_DECLINED,
    CourseEndReason.SCREENING_CLOSED: CourseBarReason.SCREENING_CLOSED,
}


def end_course(state: CourseState, command: EndCourse) -> list[DomainEvent]:
    course = state.course
    if course is not None and state.ended is None:
        return [
            CourseEnded(
                patient_id=course.patient_id,
                course_id=course.course_id,
                reason=command.reason,
                ended_by_event_id=command.ended_by_event_id,
                occurred_at=command.at,
            )
        ]
    # No course open: the clinic's no is remembered, so that no course opens on the screening
    # it answers; a later no than the one remembered is remembered too.
    bar = BARRING.get(command.reason)
    if bar is None or command.patient_id is None or not state.is_new_no(command.at):
        return []
    barred = CourseBarred(
        patient_id=command.patient_id,
        reason=bar,
        caused_by_event_id=command.ended_by_event_id,
        occurred_at=command.at,
    )
    return [barred]


def suspend_for_consent(
    state: CourseState, command: SuspendForConsentWithdrawal
) -> list[DomainEvent]:
    at, course = command.withdrawn_at, state.course
    open_course = course if course is not None and state.ended is None else None
    rests_on = open_course.consent_given_at if open_course else None
    if at is not None and rests_on is not None and at < rests_on:
        return []  # older than the new consent this course rests on
    known = state.consent_withdrawn_at
    if state.consent_withdrawn and (at is None or known is None or at <= known):
        return []  # already remembered
    if open_course is None:  # remembered, so that no course opens on the consent withdrawn
        return [
            CourseBarred(
                patient_id=command.patient_id,
                reason=CourseBarReason.CONSENT_WITHDRAWN,
                caused_by_event_id=command.withdrawal_event_id,
                occurred_at=at,
            )
        ]
    # Also when already suspended for another reason: the withdrawal must outlast a resumption.
    return [
        CourseSuspended(
            patient_id=open_course.patient_id,
            course_id=open_course.course_id,
            reason=CourseSuspensionReason.CONSENT_WITHDRAWN,
            caused_by_event_id=command.withdrawal_event_id,
            occurred_at=at,
        )
    ]


def add_booster(
    state: CourseState, request: AddBoosterSession, now: datetime, policy: SessionPolicy
) -> list[DomainEvent]:
    course = state.course
    assert course is not None
    check_not_ended(state, "add a booster")
    check_consent_is_active(state, "add a booster")
    check_not_suspended(state, "add a booster")
    if state.maintenance is None:
        raise RuleViolation("a booster belongs to the maintenance phase: start it first")
    most = policy.maintenance.max_boosters
    if state.boosters >= most:
        raise RuleViolation(f"the course has its {most} boosters (clinic policy)")
    return [
        BoosterSessionAdded(
            patient_id=course.patient_id,
            course_id=course.course_id,
            added_at=charted(request.added_at, now, "added_at"),
            boosters=state.boosters + 1,
            max_boosters=most,
            rationale=request.rationale,
            policy_version=policy.version,
        )
    ]


def _staff(state: CourseState, command: StaffCommand, policy: SessionPolicy) -> list[DomainEvent]:
    if state.course is None and state.barred is not None:
        said_no = state.barred.reason.value.replace("_", " ")
        raise NotFound(
            f"no course for this patient: none may open ({said_no}); "
            "new consent needs a new screening"
        )
    if state.course is None:
        raise NotFound(
            "no course for this patient: a course opens when the patient is cleared for dosing"
        )
    request, now = command.request, command.now
    match request:
        case RecordPreparationSession():
            return record_preparation(state, request, now, command.new_id)
        case ScheduleDosingSession():
            return schedule_dosing(state, request, now, command.new_id, policy)
        case SuspendCourse():
            return suspend_course(state, request, now)
        case ResumeCourse():
            return resume_course(state, request, now)
        case StartMaintenance():
            return start_maintenance(state, request, now, policy)
        case AddBoosterSession():
            return add_booster(state, request, now, policy)
    session = state.session(command.session_id)
    match request:
        case CheckIn():
            return check_in(state, session, request, now, policy)
        case AdministerDose():
            return administer_dose(state, session, request, now, policy)
        case RecordVitals():
            return record_vitals(session, request, now, policy)
        case RecordObservation():
            return record_observation(session, request, now)
        case ReportAdverseEvent():
            return report_adverse_event(state, session, request, now)
        case DischargePatient():
            return discharge(session, request, now, policy)
    raise TypeError(f"session cannot handle {type(request).__name__}")


def record_preparation(
    state: CourseState, request: RecordPreparationSession, now: datetime, new_id: UUID | None
) -> list[DomainEvent]:
    assert state.course is not None and new_id is not None
    return [
        PreparationSessionCompleted(
            patient_id=state.course.patient_id,
            course_id=state.course.course_id,
            preparation_session_id=new_id,
            held_at=charted(request.held_at, now, "held_at"),
            intentions=request.intentions,
            mindfulness_practice=request.mindfulness_practice,
            modality=request.modality,
            therapist_notes=request.therapist_notes,
        )
    ]


def schedule_dosing(
    state: CourseState,
    request: ScheduleDosingSession,
    now: datetime,
    new_id: UUID | None,
    policy: SessionPolicy,
) -> list[DomainEvent]:
    course = state.course
    assert course is not None and new_id is not None
    check_within_booking_horizon(request, now, policy)
    check_not_ended(state, "schedule a session")
    check_not_suspended(state, "schedule a session")
    if open_sessions := [s for s in state.sessions.values() if s.is_open]:
        still_open = open_sessions[0]
        number, status = still_open.scheduled.session_number, still_open.status.value
        raise RuleViolation(f"dosing session {number} is still open ({status}); finish it first")
    if state.doses_given >= state.planned_doses:
        then = (
            "the course completes with the final outcome measure"
            if state.maintenance
            else "a clinician may start a maintenance phase"
        )
        raise RuleViolation(f"all {state.planned_doses} planned dosing sessions are done; {then}")
    phase = CoursePhase.INDUCTION
    if state.maintenance is not None:
        phase = CoursePhase.MAINTENANCE
        check_maintenance_interval(state, request, state.maintenance)
    return [
        DosingSessionScheduled(
            patient_id=course.patient_id,
            course_id=course.course_id,
            session_id=new_id,
            session_number=len(state.sessions) + 1,
            scheduled_for=request.scheduled_for,
            phase=phase,
            occurred_at=charted(request.booked_at, now, "booked_at"),
        )
    ]


def check_within_booking_horizon(
    request: ScheduleDosingSession, now: datetime, policy: SessionPolicy
) -> None:
    days = policy.booking.horizon_days
    latest = now + timedelta(days=days)
    if request.scheduled_for > latest:
        raise InvalidField(
            "scheduled_for",
            f"a dosing session is booked at most {days} days ahead: not after "
            f"{latest.isoformat()} (clinic policy)",
        )


def check_maintenance_interval(
    state: CourseState, request: ScheduleDosingSession, maintenance: MaintenancePhaseStarted
) -> None:
    last = state.last_dose
    if last is None:
        return
    earliest = last.administered_at + timedelta(days=maintenance.min_interval_days)
    if request.scheduled_for < earliest:
        raise InvalidField(
            "scheduled_for",
            f"a maintenance session is at least {maintenance.min_interval_days} days after the "
            f"last dose ({last.administered_at.isoformat()}): not before {earliest.isoformat()} "
            "(clinic policy)",
        )


def start_maintenance(
    state: CourseState, request: StartMaintenance, now: datetime, policy: SessionPolicy
) -> list[DomainEvent]:
    course = state.course
    assert course is not None
    check_not_ended(state, "start a maintenance phase")
    check_consent_is_active(state, "start a maintenance phase")
    check_not_suspended(state, "start a maintenance phase")
    if state.maintenance is not None:
        started = state.maintenance.started_at.isoformat()
        raise RuleViolation(f"the maintenance phase was already started ({started})")
    induction = course.planned_dosing_sessions
    if state.doses_given < induction or any(s.is_open for s in state.sessions.values()):
        raise RuleViolation(
            f"{state.doses_given} of {induction} induction doses are given and discharged; "
            "maintenance starts after the induction plan"
        )
    plan = policy.maintenance
    return [
        MaintenancePhaseStarted(
            patient_id=course.patient_id,
            course_id=course.course_id,
            started_at=charted(request.started_at, now, "started_at"),
            induction_doses=state.doses_given,
            planned_sessions=plan.sessions,
            min_interval_days=plan.min_interval_days,
            max_interval_days=plan.max_interval_days,
            rationale=request.rationale,
            policy_version=policy.version,
        )
    ]


def suspend_course(state: CourseState, request: SuspendCourse, now: datetime) -> list[DomainEvent]:
    course = state.course
    assert course is not None
    check_not_suspended(state, "suspend it again")
    return [
        CourseSuspended(
            patient_id=course.patient_id,
            course_id=course.course_id,
            reason=request.reason,
            rationale=request.rationale,
            occurred_at=charted(request.suspended_at, now, "suspended_at"),
        )
    ]


def resume_course(state: CourseState, request: ResumeCourse, now: datetime) -> list[DomainEvent]:
    course, suspension = state.course, state.suspension
    assert course is not None
    if suspension is None:
        raise RuleViolation("the course is not suspended")
    if suspension.reason is CourseSuspensionReason.CONSENT_WITHDRAWN:
        raise RuleViolation(
            "consent was withdrawn: the course cannot resume; new consent needs a new screening"
        )
    return [
        CourseResumed(
            patient_id=course.patient_id,
            course_id=course.course_id,
            rationale=request.rationale,
            occurred_at=charted(request.resumed_at, now, "resumed_at"),
        )
    ]
