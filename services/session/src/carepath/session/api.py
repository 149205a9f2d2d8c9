"""The session service's HTTP API: the course, preparation, and each dosing session's steps."""

from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from carepath.chassis.auth import Role
from carepath.chassis.commands import Decision
from carepath.chassis.http import RequestContext, context_for
from carepath.chassis.service import service_of
from carepath.contracts.access import DataCategory
from carepath.contracts.session import (
    AddBoosterSession,
    AdministerDose,
    CheckIn,
    CourseSuspensionReason,
    DischargePatient,
    DischargeRefusalReason,
    DischargeRefused,
    RecordObservation,
    RecordPreparationSession,
    RecordVitals,
    ReportAdverseEvent,
    ResumeCourse,
    Route,
    ScheduleDosingSession,
    StartMaintenance,
    SuspendCourse,
    VitalsAlertKind,
)
from carepath.session.domain import (
    CourseState,
    DosingSession,
    DosingStatus,
    StaffCommand,
    StaffRequest,
)
from carepath.session.service import Sessions

router = APIRouter(tags=["session"], responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}})


Service = Annotated[Sessions, Depends(service_of(Sessions))]
Reader = Annotated[
    RequestContext, Depends(context_for(Role.CLINICIAN, Role.NURSE, Role.THERAPIST, Role.AUDITOR))
]
Therapist = Annotated[RequestContext, Depends(context_for(Role.THERAPIST, Role.CLINICIAN))]
CareTeam = Annotated[RequestContext, Depends(context_for(Role.NURSE, Role.CLINICIAN))]
Clinician = Annotated[RequestContext, Depends(context_for(Role.CLINICIAN))]


class DoseView(BaseModel):
    route: Route
    dose_mg: float
    dose_mg_per_kg: float
    administered_at: datetime
    within_policy_range: bool


class DosingSessionView(BaseModel):
    """A dosing session as the care team sees it."""

    session_id: UUID
    session_number: int
    status: DosingStatus
    scheduled_for: datetime
    deferred_reason: str | None
    dose: DoseView | None
    last_blood_pressure: str | None
    alerts: list[list[VitalsAlertKind]]
    adverse_events: int
    discharge_refused: str | None
    discharged_at: datetime | None

    @classmethod
    def of(cls, session: DosingSession) -> "DosingSessionView":
        dose, last = session.dose, session.vitals[-1] if session.vitals else None
        return cls(
            session_id=session.scheduled.session_id,
            session_number=session.scheduled.session_number,
            status=session.status,
            scheduled_for=session.scheduled.scheduled_for,
            deferred_reason=session.deferred.reason if session.deferred else None,
            dose=DoseView(
                route=dose.route,
                dose_mg=dose.dose_mg,
                dose_mg_per_kg=dose.dose_mg_per_kg,
                administered_at=dose.administered_at,
                within_policy_range=dose.within_policy_range,
            )
            if dose
            else None,
            last_blood_pressure=f"{last.systolic}/{last.diastolic}" if last else None,
            alerts=[alert.kinds for alert in session.alerts],
            adverse_events=len(session.adverse_events),
            discharge_refused=session.refusals[-1].explanation
            if session.refusals and not session.discharged
            else None,
            discharged_at=session.discharged.discharged_at if session.discharged else None,
        )


class CourseView(BaseModel):
    """A patient's course: plan, suspension, preparation, and every dosing session."""

    patient_id: UUID
    course_id: UUID
    planned_dosing_sessions: int
    induction_dosing_sessions: int
    maintenance_sessions: int | None
    boosters: int
    doses_given: int
    suspended: CourseSuspensionReason | None
    preparation_sessions: int
    dosing_sessions: list[DosingSessionView]
    policy_version: str

    @classmethod
    def of(cls, state: CourseState) -> "CourseView":
        course = state.course
        assert course is not None
        return cls(
            patient_id=course.patient_id,
            course_id=course.course_id,
            planned_dosing_sessions=state.planned_doses,
            induction_dosing_sessions=course.planned_dosing_sessions,
            maintenance_sessions=state.maintenance.planned_sessions if state.maintenance else None,
            boosters=state.boosters,
            doses_given=state.doses_given,
            suspended=state.suspension.reason if state.suspension else None,
            preparation_sessions=len(state.preparations),
            dosing_sessions=[DosingSessionView.of(s) for s in state.sessions.values()],
            policy_version=course.policy_version,
        )


class Created(BaseModel):
    id: UUID


@router.get("/courses/{patient_id}")
async def read_course(
    patient_id: UUID, request: Request, context: Reader, service: Service
) -> CourseView:
    """A patient's course. Reads are recorded on `carepath.access.events`."""
    state = await service.course(patient_id)
    await service.runtime.record_read(request, context, patient_id, [DataCategory.SESSION_CLINICAL])
    return CourseView.of(state)


@router.post("/courses/{patient_id}/preparation-sessions", status_code=status.HTTP_201_CREATED)
async def record_preparation_session(
    patient_id: UUID, body: RecordPreparationSession, context: Therapist, service: Service
) -> Created:
    """A preparation session (intentions, mindfulness, modality); needed before the first dose."""
    new_id = uuid4()
    await service.staff(patient_id, _command(service, body, new_id=new_id), context)
    return Created(id=new_id)


@router.post("/courses/{patient_id}/dosing-sessions", status_code=status.HTTP_201_CREATED)
async def schedule_dosing_session(
    patient_id: UUID, body: ScheduleDosingSession, context: CareTeam, service: Service
) -> DosingSessionView:
    """Schedule the next dosing session (not while suspended or while a session is open)."""
    new_id = uuid4()
    decision = await service.staff(
        patient_id, _command(service, body, new_id=new_id), context, new_session=True
    )
    return DosingSessionView.of(decision.state.sessions[new_id])


@router.post("/courses/{patient_id}/suspension")
async def suspend_course(
    patient_id: UUID, body: SuspendCourse, context: Clinician, service: Service
) -> CourseView:
    """A clinician suspends the course: no session can be scheduled or dosed until it is resumed."""
    decision = await service.staff(patient_id, _command(service, body), context)
    return CourseView.of(decision.state)


@router.post("/courses/{patient_id}/resumption")
async def resume_course(
    patient_id: UUID, body: ResumeCourse, context: Clinician, service: Service
) -> CourseView:
    """A clinician resumes a suspended course (not one suspended because consent was withdrawn)."""
    decision = await service.staff(patient_id, _command(service, body), context)
    return CourseView.of(decision.state)


@router.post("/courses/{patient_id}/maintenance", status_code=status.HTTP_201_CREATED)
async def start_maintenance(
    patient_id: UUID, body: StartMaintenance, context: Clinician, service: Service
) -> CourseView:
    """After the induction plan, a clinician starts the maintenance phase (sessions and spacing
    from the clinic policy)."""
    decision = await service.staff(patient_id, _command(service, body), context)
    return CourseView.of(decision.state)


@router.post("/courses/{patient_id}/boosters", status_code=status.HTTP_201_CREATED)
async def add_booster(
    patient_id: UUID, body: AddBoosterSession, context: Clinician, service: Service
) -> CourseView:
    """In the maintenance phase, a clinician adds a booster dosing session (at most the policy's
    `maintenance.max_boosters`)."""
    decision = await service.staff(patient_id, _command(service, body), context)
    return CourseView.of(decision.state)


@router.post("/dosing-sessions/{session_id}/check-in")
async def check_in(
    session_id: UUID, body: CheckIn, context: CareTeam, service: Service
) -> DosingSessionView:
    """Pre-dose vitals and weight; a BP above the clinic policy's limit defers the session."""
    view, _ = await _on_session(service, session_id, body, context)
    return view


@router.post("/dosing-sessions/{session_id}/dose")
async def administer_dose(
    session_id: UUID, body: AdministerDose, context: Clinician, service: Service
) -> DosingSessionView:
    """The dose, mg/kg from today's weight; outside the policy range only with an override."""
    view, _ = await _on_session(service, session_id, body, context)
    return view


@router.post("/dosing-sessions/{session_id}/vitals", status_code=status.HTTP_201_CREATED)
async def record_vitals(
    session_id: UUID, body: RecordVitals, context: CareTeam, service: Service
) -> DosingSessionView:
    """Post-dose vitals; above the clinic policy's alert limits raises an alert (monitoring goes
    on)."""
    view, _ = await _on_session(service, session_id, body, context)
    return view


@router.post("/dosing-sessions/{session_id}/observations", status_code=status.HTTP_201_CREATED)
async def record_observation(
    session_id: UUID, body: RecordObservation, context: CareTeam, service: Service
) -> DosingSessionView:
    """Dissociation (CADSS), sedation, side effects."""
    view, _ = await _on_session(service, session_id, body, context)
    return view


@router.post("/dosing-sessions/{session_id}/adverse-events", status_code=status.HTTP_201_CREATED)
async def report_adverse_event(
    session_id: UUID, body: ReportAdverseEvent, context: CareTeam, service: Service
) -> DosingSessionView:
    """An adverse event with its severity; a serious one suspends the course."""
    view, _ = await _on_session(service, session_id, body, context)
    return view


class DischargeRefusal(BaseModel):
    detail: str
    reasons: list[DischargeRefusalReason]
    earliest_discharge_at: datetime | None


@router.post(
    "/dosing-sessions/{session_id}/discharge", responses={409: {"model": DischargeRefusal}}
)
async def discharge(
    session_id: UUID, body: DischargePatient, context: Clinician, service: Service
) -> Response:
    """Discharge after the clinic policy's observation window, BP back under its alert threshold,
    readiness and escort confirmed. A refusal is recorded (DischargeRefused) and answered 409 with
    its reasons."""
    view, decision = await _on_session(service, session_id, body, context)
    refused = decision.first(DischargeRefused)
    if refused is None:
        return JSONResponse(view.model_dump(mode="json"))
    refusal = DischargeRefusal(
        detail=f"discharge refused: {refused.explanation}",
        reasons=refused.reasons,
        earliest_discharge_at=refused.earliest_discharge_at,
    )
    return JSONResponse(refusal.model_dump(mode="json"), status.HTTP_409_CONFLICT)


async def _on_session(
    service: Sessions,
    session_id: UUID,
    body: CheckIn
    | AdministerDose
    | RecordVitals
    | RecordObservation
    | ReportAdverseEvent
    | DischargePatient,
    context: RequestContext,
) -> tuple[DosingSessionView, Decision[CourseState]]:
    patient_id = await service.patient_of(session_id)
    command = _command(service, body, session_id=session_id)
    decision = await service.staff(patient_id, command, context)
    return DosingSessionView.of(decision.state.sessions[session_id]), decision


def _command(
    service: Sessions,
    request: StaffRequest,
    *,
    session_id: UUID | None = None,
    new_id: UUID | None = None,
) -> StaffCommand:
    return StaffCommand(
        request=request,
        now=service.runtime.clock.now().astimezone(service.runtime.settings.clinic_zone),
        session_id=session_id,
        new_id=new_id,
    )
