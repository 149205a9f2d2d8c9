"""The course decider: one patient's treatment course and its sessions, as pure `decide` and
`evolve`. No I/O here.

A course opens when the patient is cleared; preparation comes before the first dose; each dosing
session runs scheduled -> checked in (or deferred for BP) -> dosed (monitoring) -> discharged.
Clinical times are charted by staff: they may lie in the past, never in the future, and the
rules use them.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from carepath.chassis.decider import Decider
from carepath.chassis.errors import InvalidField, NotFound, RuleViolation
from carepath.contracts import DomainEvent
from carepath.contracts.session import (
    AdministerDose,
    AdverseEventReported,
    CheckIn,
    CourseOpened,
    CourseOpeningBasis,
    CourseResumed,
    CourseSuspended,
    CourseSuspensionReason,
    DischargePatient,
    DischargeRefusalReason,
    DischargeRefused,
    DoseAdministered,
    DosingDeferred,
    DosingSessionScheduled,
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
    SuspendCourse,
    VitalsAlertKind,
    VitalsAlertRaised,
    VitalsRecorded,
)
from carepath.session.clinic_policy import SessionPolicy

CLOCK_SKEW = timedelta(minutes=5)  # a charted time this far ahead is a clock difference


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCourse:
    """The patient was cleared (eligible, or approved on review): open a course."""

    patient_id: UUID
    course_id: UUID
    basis: CourseOpeningBasis
    basis_event_id: UUID


@dataclass(frozen=True)
class SuspendForConsentWithdrawal:
    """Consent was withdrawn upstream."""

    withdrawal_event_id: UUID


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
)


@dataclass(frozen=True)
class StaffCommand:
    """A request from staff, when it was made, the dosing session it is about (if any), and the
    id of what it creates (a session, a preparation session)."""

    request: StaffRequest
    now: datetime
    session_id: UUID | None = None
    new_id: UUID | None = None


CourseCommand = OpenCourse | SuspendForConsentWithdrawal | StaffCommand


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
        taken = [v for v in self.vitals if v.measured_at <= until]
        return max(taken, key=lambda v: v.measured_at) if taken else None


@dataclass(frozen=True)
class CourseState:
    """What the session service knows about one patient's course."""

    course: CourseOpened | None = None
    suspension: CourseSuspended | None = None
    preparations: tuple[PreparationSessionCompleted, ...] = ()
    sessions: dict[UUID, DosingSession] = field(default_factory=dict)

    def session(self, session_id: UUID | None) -> DosingSession:
        if session_id is None or session_id not in self.sessions:
            raise NotFound(f"no dosing session {session_id}")
        return self.sessions[session_id]

    @property
    def doses_given(self) -> int:
        return sum(1 for s in self.sessions.values() if s.dose is not None)


def stream_id(patient_id: UUID) -> str:
    """The event stream of a patient's course and its sessions."""
    return f"session-{patient_id}"


# --- decisions ------------------------------------------------------------------------------


def course_decider(policy: SessionPolicy) -> Decider[CourseState, CourseCommand]:
    """The course decider under a clinic policy."""

    def decide(state: CourseState, command: CourseCommand) -> Sequence[DomainEvent]:
        match command:
            case OpenCourse():
                return open_course(state, command, policy)
            case SuspendForConsentWithdrawal():
                return suspend_for_consent(state, command)
            case StaffCommand():
                return _staff(state, command, policy)
        raise TypeError(f"session cannot handle {type(command).__name__}")

    return Decider(decide=decide, evolve=evolve, initial_state=CourseState())


def open_course(
    state: CourseState, command: OpenCourse, policy: SessionPolicy
) -> list[DomainEvent]:
    if state.course is not None:
        return []  # already open: a redelivery, or an approval after an automatic `eligible`
    return [
        CourseOpened(
            patient_id=command.patient_id,
            course_id=command.course_id,
            basis=command.basis,
            basis_event_id=command.basis_event_id,
            planned_dosing_sessions=policy.course.planned_dosing_sessions,
            planned_weeks=policy.course.planned_weeks,
            policy_version=policy.version,
        )
    ]


def suspend_for_consent(
    state: CourseState, command: SuspendForConsentWithdrawal
) -> list[DomainEvent]:
    if state.course is None:
        return []
    if (
        state.suspension is not None
        and state.suspension.reason is CourseSuspensionReason.CONSENT_WITHDRAWN
    ):
        return []
    # Also when already suspended for another reason: the withdrawal must outlast a resumption.
    return [
        CourseSuspended(
            patient_id=state.course.patient_id,
            course_id=state.course.course_id,
            reason=CourseSuspensionReason.CONSENT_WITHDRAWN,
            caused_by_event_id=command.withdrawal_event_id,
        )
    ]


def _staff(state: CourseState, command: StaffCommand, policy: SessionPolicy) -> list[DomainEvent]:
    if state.course is None:
        raise NotFound(
            "no course for this patient: a course opens when the patient is cleared for dosing"
        )
    request, now = command.request, command.now
    match request:
        case RecordPreparationSession():
            return record_preparation(state, request, now, command.new_id)
        case ScheduleDosingSession():
            return schedule_dosing(state, request, command.new_id)
        case SuspendCourse():
            return suspend_course(state, request)
        case ResumeCourse():
            return resume_course(state, request)
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
    state: CourseState, request: ScheduleDosingSession, new_id: UUID | None
) -> list[DomainEvent]:
    course = state.course
    assert course is not None and new_id is not None
    check_not_suspended(state, "schedule a session")
    if open_sessions := [s for s in state.sessions.values() if s.is_open]:
        still_open = open_sessions[0]
        number, status = still_open.scheduled.session_number, still_open.status.value
        raise RuleViolation(f"dosing session {number} is still open ({status}); finish it first")
    if state.doses_given >= course.planned_dosing_sessions:
        raise RuleViolation(
            f"all {course.planned_dosing_sessions} planned dosing sessions are done"
        )
    return [
        DosingSessionScheduled(
            patient_id=course.patient_id,
            course_id=course.course_id,
            session_id=new_id,
            session_number=len(state.sessions) + 1,
            scheduled_for=request.scheduled_for,
        )
    ]


def check_in(
    state: CourseState,
    session: DosingSession,
    request: CheckIn,
    now: datetime,
    policy: SessionPolicy,
) -> list[DomainEvent]:
    check_status(session, DosingStatus.SCHEDULED, "check in")
    check_not_suspended(state, "check in for dosing")
    patient_id, session_id = session.scheduled.patient_id, session.scheduled.session_id
    answers = request.pre_dose_phq9_answers
    checked_in = PatientCheckedIn(
        patient_id=patient_id,
        session_id=session_id,
        measured_at=charted(request.measured_at, now, "measured_at"),
        systolic=request.systolic,
        diastolic=request.diastolic,
        heart_rate=request.heart_rate,
        spo2=request.spo2,
        weight_kg=request.weight_kg,
        pre_dose_phq9_answers=answers,
        pre_dose_phq9_total=sum(answers) if answers is not None else None,
    )
    limits = policy.check_in
    if (
        request.systolic <= limits.max_systolic_mmhg
        and request.diastolic <= limits.max_diastolic_mmhg
    ):
        return [checked_in]
    reason = (
        f"pre-dose BP {request.systolic}/{request.diastolic} mmHg is above "
        f"{limits.max_systolic_mmhg}/{limits.max_diastolic_mmhg}: dosing deferred"
    )
    return [
        checked_in,
        DosingDeferred(
            patient_id=patient_id,
            session_id=session_id,
            reason=reason,
            systolic=request.systolic,
            diastolic=request.diastolic,
            max_systolic_mmhg=limits.max_systolic_mmhg,
            max_diastolic_mmhg=limits.max_diastolic_mmhg,
            policy_version=policy.version,
        ),
    ]


def administer_dose(
    state: CourseState,
    session: DosingSession,
    request: AdministerDose,
    now: datetime,
    policy: SessionPolicy,
) -> list[DomainEvent]:
    check_status(session, DosingStatus.CHECKED_IN, "give a dose")
    check_not_suspended(state, "give a dose")
    assert session.check_in is not None
    at = charted(request.administered_at, now, "administered_at")
    if state.doses_given == 0 and not any(p.held_at <= at for p in state.preparations):
        raise RuleViolation("a preparation session must come before the first dose")
    if at < session.check_in.measured_at:
        raise InvalidField("administered_at", "must not be before the check-in vitals were taken")
    weight = session.check_in.weight_kg
    exact_per_kg = request.dose_mg / weight
    per_kg = round(exact_per_kg, 4)
    if per_kg <= 0:
        raise InvalidField(
            "dose_mg",
            f"{request.dose_mg:g} mg is below 0.0001 mg/kg at {weight:g} kg: check the entry",
        )
    allowed = policy.dose_ranges[request.route]
    within = allowed.contains(request.dose_mg, exact_per_kg)
    if not within and request.override_rationale is None:
        given = f"{request.dose_mg:g} mg ({per_kg:g} mg/kg at {weight:g} kg)"
        raise RuleViolation(
            f"{given} is outside the {request.route.value} policy range {allowed.describe()}; "
            "a clinician may override with override_rationale"
        )
    return [
        DoseAdministered(
            patient_id=session.scheduled.patient_id,
            session_id=session.scheduled.session_id,
            administered_at=at,
            route=request.route,
            dose_mg=request.dose_mg,
            dose_mg_per_kg=per_kg,
            weight_kg=weight,
            infusion_minutes=request.infusion_minutes,
            policy_min_mg_per_kg=allowed.min_mg_per_kg,
            policy_max_mg_per_kg=allowed.max_mg_per_kg,
            policy_min_mg=allowed.min_mg,
            policy_max_mg=allowed.max_mg,
            within_policy_range=within,
            override_rationale=None if within else request.override_rationale,
            policy_version=policy.version,
        )
    ]


def record_vitals(
    session: DosingSession, request: RecordVitals, now: datetime, policy: SessionPolicy
) -> list[DomainEvent]:
    check_status(session, DosingStatus.MONITORING, "record post-dose vitals")
    assert session.dose is not None
    at = charted(request.measured_at, now, "measured_at")
    if at < session.dose.administered_at:
        raise InvalidField(
            "measured_at", "is before the dose; pre-dose vitals are taken at check-in"
        )
    patient_id, session_id = session.scheduled.patient_id, session.scheduled.session_id
    vitals = VitalsRecorded(
        patient_id=patient_id,
        session_id=session_id,
        measured_at=at,
        systolic=request.systolic,
        diastolic=request.diastolic,
        heart_rate=request.heart_rate,
        spo2=request.spo2,
        minutes_since_dose=int((at - session.dose.administered_at).total_seconds() // 60),
    )
    alerts = policy.monitoring
    kinds = []
    if (
        request.systolic > alerts.alert_systolic_mmhg
        or request.diastolic > alerts.alert_diastolic_mmhg
    ):
        kinds.append(VitalsAlertKind.BLOOD_PRESSURE_HIGH)
    if request.heart_rate > alerts.alert_heart_rate_bpm:
        kinds.append(VitalsAlertKind.HEART_RATE_HIGH)
    if not kinds:
        return [vitals]
    return [
        vitals,
        VitalsAlertRaised(
            patient_id=patient_id,
            session_id=session_id,
            measured_at=at,
            kinds=kinds,
            systolic=request.systolic,
            diastolic=request.diastolic,
            heart_rate=request.heart_rate,
            alert_systolic_mmhg=alerts.alert_systolic_mmhg,
            alert_diastolic_mmhg=alerts.alert_diastolic_mmhg,
            alert_heart_rate_bpm=alerts.alert_heart_rate_bpm,
            policy_version=policy.version,
        ),
    ]


def record_observation(
    session: DosingSession, request: RecordObservation, now: datetime
) -> list[DomainEvent]:
    check_status(session, DosingStatus.MONITORING, "record an observation")
    assert session.dose is not None
    observed_at = charted(request.observed_at, now, "observed_at")
    if observed_at < session.dose.administered_at:
        raise InvalidField(
            "observed_at", "is before the dose; observations are of the dosing session"
        )
    return [
        ObservationRecorded(
            patient_id=session.scheduled.patient_id,
            session_id=session.scheduled.session_id,
            observed_at=observed_at,
            cadss_total=request.cadss_total,
            sedation=request.sedation,
            side_effects=request.side_effects,
            other_side_effect=request.other_side_effect,
            notes=request.notes,
        )
    ]


def report_adverse_event(
    state: CourseState, session: DosingSession, request: ReportAdverseEvent, now: datetime
) -> list[DomainEvent]:
    if session.check_in is None:
        raise RuleViolation("the patient has not checked in for this session")
    course = state.course
    assert course is not None
    reported = AdverseEventReported(
        patient_id=course.patient_id,
        session_id=session.scheduled.session_id,
        occurred_at=charted(request.occurred_at, now, "occurred_at"),
        description=request.description,
        severity=request.severity,
        serious=request.serious,
    )
    if not request.serious or state.suspension is not None:
        return [reported]
    suspended = CourseSuspended(
        patient_id=course.patient_id,
        course_id=course.course_id,
        reason=CourseSuspensionReason.SERIOUS_ADVERSE_EVENT,
    )
    return [reported, suspended]


def discharge(
    session: DosingSession, request: DischargePatient, now: datetime, policy: SessionPolicy
) -> list[DomainEvent]:
    check_status(session, DosingStatus.MONITORING, "discharge")
    dose = session.dose
    assert dose is not None
    at = charted(request.discharged_at, now, "discharged_at")
    if at < dose.administered_at:
        raise InvalidField("discharged_at", "is before the dose was given")
    rule, alerts = policy.discharge, policy.monitoring
    observed = int((at - dose.administered_at).total_seconds() // 60)
    last = session.last_vitals(at)
    reasons, explained = [], []
    if observed < rule.min_observation_minutes:
        reasons.append(DischargeRefusalReason.OBSERVATION_WINDOW_NOT_ELAPSED)
        explained.append(
            f"observed {observed} of {rule.min_observation_minutes} minutes since the dose"
        )
    if last is None:
        reasons.append(DischargeRefusalReason.NO_BLOOD_PRESSURE_SINCE_DOSE)
        explained.append("no blood pressure recorded since the dose")
    elif last.systolic > alerts.alert_systolic_mmhg or last.diastolic > alerts.alert_diastolic_mmhg:
        reasons.append(DischargeRefusalReason.BLOOD_PRESSURE_ABOVE_ALERT_THRESHOLD)
        explained.append(
            f"last BP {last.systolic}/{last.diastolic} mmHg is above "
            f"{alerts.alert_systolic_mmhg}/{alerts.alert_diastolic_mmhg}"
        )
    if not request.readiness_confirmed:
        reasons.append(DischargeRefusalReason.READINESS_NOT_CONFIRMED)
        explained.append("the readiness-to-leave check is not confirmed")
    if not request.escort_confirmed:
        reasons.append(DischargeRefusalReason.ESCORT_NOT_CONFIRMED)
        explained.append("no escort is confirmed")
    common = {
        "patient_id": session.scheduled.patient_id,
        "session_id": session.scheduled.session_id,
        "min_observation_minutes": rule.min_observation_minutes,
        "alert_systolic_mmhg": alerts.alert_systolic_mmhg,
        "alert_diastolic_mmhg": alerts.alert_diastolic_mmhg,
        "policy_version": policy.version,
    }
    if reasons:
        window_open = observed < rule.min_observation_minutes
        return [
            DischargeRefused(
                **common,
                attempted_at=at,
                reasons=reasons,
                explanation="; ".join(explained),
                earliest_discharge_at=dose.administered_at
                + timedelta(minutes=rule.min_observation_minutes)
                if window_open
                else None,
                observation_minutes=max(observed, 0),
                last_systolic=last.systolic if last else None,
                last_diastolic=last.diastolic if last else None,
            )
        ]
    assert last is not None
    return [
        PatientDischarged(
            **common,
            discharged_at=at,
            observation_minutes=observed,
            last_systolic=last.systolic,
            last_diastolic=last.diastolic,
            readiness_confirmed=True,
            escort_confirmed=True,
            no_driving_until=at.date() + timedelta(days=1),
        )
    ]


def suspend_course(state: CourseState, request: SuspendCourse) -> list[DomainEvent]:
    course = state.course
    assert course is not None
    check_not_suspended(state, "suspend it again")
    return [
        CourseSuspended(
            patient_id=course.patient_id,
            course_id=course.course_id,
            reason=request.reason,
            rationale=request.rationale,
        )
    ]


def resume_course(state: CourseState, request: ResumeCourse) -> list[DomainEvent]:
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
            patient_id=course.patient_id, course_id=course.course_id, rationale=request.rationale
        )
    ]


def check_status(session: DosingSession, wanted: DosingStatus, action: str) -> None:
    if session.status is not wanted:
        number, status = session.scheduled.session_number, session.status.value
        raise RuleViolation(
            f"cannot {action}: dosing session {number} is {status}, not {wanted.value}"
        )


def check_not_suspended(state: CourseState, action: str) -> None:
    if state.suspension is not None:
        raise RuleViolation(
            f"cannot {action}: the course is suspended ({state.suspension.reason.value}) "
            "until a clinician resumes it"
        )


def charted(value: datetime, now: datetime, field_name: str) -> datetime:
    """A charted clinical time: may be past, never future."""
    if value > now + CLOCK_SKEW:
        raise InvalidField(field_name, f"must not be in the future (now is {now.isoformat()})")
    return value


# --- evolution ------------------------------------------------------------------------------


def evolve(state: CourseState, event: DomainEvent) -> CourseState:
    """The state after one event."""
    match event:
        case CourseOpened():
            return replace(state, course=event)
        case CourseSuspended():
            return replace(state, suspension=event)
        case CourseResumed():
            return replace(state, suspension=None)
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
