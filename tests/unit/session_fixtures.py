"""Given/when/then helpers and sample requests for the course decider (session service).

One clinic day: the patient checks in at 09:45, is dosed at 10:00, and the decisions are taken at
13:30 (`NOW`), so every default charted time lies in the past and 2 hours of observation after
the infusion fit.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from uuid import UUID

from carepath.contracts import DomainEvent
from carepath.contracts.common import AdverseEventSeverity, TherapyModality
from carepath.contracts.session import (
    AdministerDose,
    CheckIn,
    CourseOpeningBasis,
    CourseSuspensionReason,
    DischargePatient,
    RecordObservation,
    RecordPreparationSession,
    RecordVitals,
    ReportAdverseEvent,
    ResumeCourse,
    Route,
    ScheduleDosingSession,
    SedationLevel,
    SideEffect,
    SuspendCourse,
)
from carepath.session.clinic_policy import load_policy
from carepath.session.domain import (
    CourseCommand,
    CourseState,
    OpenCourse,
    StaffCommand,
    SuspendForConsentWithdrawal,
    course_decider,
)

POLICY = load_policy()
DECIDER = course_decider(POLICY)

PATIENT = UUID("7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d")
COURSE = UUID("c0a5e000-1111-4222-8333-444455556666")
ELIGIBILITY_EVENT = UUID("e1191b1e-0000-4000-8000-000000000001")
CONSENT_WITHDRAWN_EVENT = UUID("c0a5e17d-0000-4000-8000-000000000002")
PREPARATION = UUID("9e9a1a70-0000-4000-8000-000000000003")


def session_id(number: int) -> UUID:
    """A fixed id for the dosing session booked as the `number`th in a test."""
    return UUID(f"d05e5e55-0000-4000-8000-{number:012d}")


SESSION = session_id(1)
UNKNOWN_SESSION = UUID("00000000-dead-4000-8000-000000000000")

NOW = datetime(2026, 12, 1, 13, 30, tzinfo=UTC)
PREPARED_AT = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
SCHEDULED_FOR = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
CHECKED_IN_AT = datetime(2026, 12, 1, 9, 45, tzinfo=UTC)
DOSED_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
WEIGHT_KG = 80.0
STANDARD_IV_MG = 40.0  # 0.5 mg/kg at 80 kg over 40 minutes (Andrade 2017)
RATIONALE = "Discussed with the prescriber; documented in the chart today."


INFUSION_MINUTES = 40  # the standard IV infusion: the observation window runs from its end
INFUSION_ENDED_AT = DOSED_AT + timedelta(minutes=INFUSION_MINUTES)


def after_dose(hours: int = 0, minutes: int = 0, seconds: int = 0) -> datetime:
    return DOSED_AT + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def after_infusion(hours: int = 0, minutes: int = 0, seconds: int = 0) -> datetime:
    return INFUSION_ENDED_AT + timedelta(hours=hours, minutes=minutes, seconds=seconds)


# --- commands ----------------------------------------------------------------------------------


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


def staff(
    request: StaffRequest,
    *,
    session: UUID | None = None,
    new_id: UUID | None = None,
    now: datetime = NOW,
) -> StaffCommand:
    return StaffCommand(request=request, now=now, session_id=session, new_id=new_id)


def open_course(
    basis: CourseOpeningBasis = CourseOpeningBasis.ELIGIBLE, course_id: UUID = COURSE
) -> OpenCourse:
    return OpenCourse(
        patient_id=PATIENT, course_id=course_id, basis=basis, basis_event_id=ELIGIBILITY_EVENT
    )


def preparation(*, at: datetime = PREPARED_AT, now: datetime = NOW) -> StaffCommand:
    request = RecordPreparationSession(
        held_at=at,
        intentions=["reconnect with my children", "less self-criticism"],
        mindfulness_practice="body scan, 10 minutes daily",
        modality=TherapyModality.ACT,
    )
    return staff(request, new_id=PREPARATION, now=now)


def schedule(
    session: UUID = SESSION, *, scheduled_for: datetime = SCHEDULED_FOR, now: datetime = NOW
) -> StaffCommand:
    return staff(ScheduleDosingSession(scheduled_for=scheduled_for), new_id=session, now=now)


def check_in(
    systolic: int = 124,
    diastolic: int = 78,
    *,
    session: UUID = SESSION,
    at: datetime = CHECKED_IN_AT,
    weight_kg: float = WEIGHT_KG,
    phq9: list[int] | None = None,
    now: datetime = NOW,
) -> StaffCommand:
    request = CheckIn(
        measured_at=at,
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=72,
        spo2=98,
        weight_kg=weight_kg,
        pre_dose_phq9_answers=phq9,
    )
    return staff(request, session=session, now=now)


def dose(
    route: Route = Route.IV,
    mg: float = STANDARD_IV_MG,
    *,
    override: str | None = None,
    session: UUID = SESSION,
    at: datetime = DOSED_AT,
    now: datetime = NOW,
) -> StaffCommand:
    request = AdministerDose(
        administered_at=at,
        route=route,
        dose_mg=mg,
        infusion_minutes=INFUSION_MINUTES if route is Route.IV else None,
        override_rationale=override,
    )
    return staff(request, session=session, now=now)


def vitals(
    systolic: int = 132,
    diastolic: int = 82,
    heart_rate: int = 84,
    *,
    session: UUID = SESSION,
    at: datetime = DOSED_AT + timedelta(minutes=45),  # after the expected peak (40 min)
    now: datetime = NOW,
) -> StaffCommand:
    request = RecordVitals(
        measured_at=at, systolic=systolic, diastolic=diastolic, heart_rate=heart_rate, spo2=97
    )
    return staff(request, session=session, now=now)


def observation(
    *,
    session: UUID = SESSION,
    at: datetime = DOSED_AT + timedelta(minutes=20),
    now: datetime = NOW,
) -> StaffCommand:
    request = RecordObservation(
        observed_at=at,
        cadss_total=18,
        sedation=SedationLevel.DROWSY,
        side_effects=[SideEffect.NAUSEA, SideEffect.DIZZINESS],
    )
    return staff(request, session=session, now=now)


def adverse_event(
    *,
    serious: bool = False,
    severity: AdverseEventSeverity = AdverseEventSeverity.MILD,
    session: UUID = SESSION,
    at: datetime = DOSED_AT + timedelta(minutes=25),
    now: datetime = NOW,
) -> StaffCommand:
    request = ReportAdverseEvent(
        occurred_at=at,
        description="Vomited twice; settled with ondansetron.",
        severity=severity,
        serious=serious,
    )
    return staff(request, session=session, now=now)


def discharge(
    *,
    at: datetime = INFUSION_ENDED_AT + timedelta(hours=2),
    ready: bool = True,
    escort: bool = True,
    session: UUID = SESSION,
    now: datetime = NOW,
) -> StaffCommand:
    request = DischargePatient(
        discharged_at=at,
        readiness_confirmed=ready,
        escort_confirmed=escort,
        no_driving_advised=True,
    )
    return staff(request, session=session, now=now)


def suspend(
    reason: CourseSuspensionReason = CourseSuspensionReason.CLINICIAN_DECISION,
) -> StaffCommand:
    return staff(SuspendCourse(reason=reason, rationale="Worsening insomnia; review in a week."))


def resume() -> StaffCommand:
    return staff(ResumeCourse(rationale="Reviewed with the patient; safe to continue dosing."))


def consent_withdrawn() -> SuspendForConsentWithdrawal:
    return SuspendForConsentWithdrawal(
        withdrawal_event_id=CONSENT_WITHDRAWN_EVENT, patient_id=PATIENT
    )


def completed_session(session: UUID, dosed_at: datetime) -> list[CourseCommand]:
    """A whole uneventful dosing session: booked, checked in, dosed, monitored, discharged."""
    return [
        schedule(session, scheduled_for=dosed_at - timedelta(minutes=30)),
        check_in(session=session, at=dosed_at - timedelta(minutes=15)),
        dose(session=session, at=dosed_at),
        vitals(session=session, at=dosed_at + timedelta(minutes=90)),
        discharge(session=session, at=dosed_at + timedelta(minutes=INFUSION_MINUTES, hours=2)),
    ]


def completed_sessions(count: int) -> list[CourseCommand]:
    """`count` uneventful sessions (ids 1..count), every other day, the last two days ago."""
    return [
        command
        for number in range(1, count + 1)
        for command in completed_session(
            session_id(number), DOSED_AT - timedelta(days=2 * (count - number + 1))
        )
    ]


# The course at the usual points of today's session, to be spread into `given(...)`.
OPENED: tuple[CourseCommand, ...] = (open_course(),)
PREPARED: tuple[CourseCommand, ...] = (*OPENED, preparation())
BOOKED: tuple[CourseCommand, ...] = (*PREPARED, schedule())
CHECKED_IN: tuple[CourseCommand, ...] = (*BOOKED, check_in())
DOSED: tuple[CourseCommand, ...] = (*CHECKED_IN, dose())
MONITORED: tuple[CourseCommand, ...] = (*DOSED, vitals())


# --- given / when ------------------------------------------------------------------------------


def when(state: CourseState, command: CourseCommand) -> list[DomainEvent]:
    return list(DECIDER.decide(state, command))


def given(*commands: CourseCommand) -> CourseState:
    """The state after each command was decided and its events applied, in order."""
    return reduce(
        lambda state, command: DECIDER.fold_onto(state, when(state, command)),
        commands,
        DECIDER.initial_state,
    )


def types(events: Sequence[DomainEvent]) -> list[str]:
    return [type(event).__name__ for event in events]
