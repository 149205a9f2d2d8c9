"""Integration's HTTP API: the plan, integration sessions, outcomes, completion, discontinuation."""

from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel

from carepath.chassis.auth import Role
from carepath.chassis.http import RequestContext, context_for
from carepath.chassis.service import service_of
from carepath.contracts.access import DataCategory
from carepath.contracts.common import Instrument
from carepath.contracts.integration import (
    CompleteCourse,
    DiscontinuationReason,
    DiscontinueCourse,
    OutcomeTimepoint,
    RecordIntegrationSession,
    RecordOutcome,
)
from carepath.integration.domain import PlanState, StaffCommand
from carepath.integration.service import Integration

router = APIRouter(tags=["integration"], responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}})


Service = Annotated[Integration, Depends(service_of(Integration))]
Reader = Annotated[
    RequestContext, Depends(context_for(Role.CLINICIAN, Role.THERAPIST, Role.NURSE, Role.AUDITOR))
]
Therapist = Annotated[RequestContext, Depends(context_for(Role.THERAPIST, Role.CLINICIAN))]
Measurer = Annotated[
    RequestContext, Depends(context_for(Role.CLINICIAN, Role.THERAPIST, Role.NURSE))
]
Clinician = Annotated[RequestContext, Depends(context_for(Role.CLINICIAN))]


class DueView(BaseModel):
    dosing_session_id: UUID
    discharged_at: datetime
    due_by: datetime
    overdue: bool


class OutcomeView(BaseModel):
    instrument: Instrument
    timepoint: OutcomeTimepoint
    measured_at: datetime
    total: int
    baseline_total: int | None
    change_from_baseline_points: int | None
    change_from_baseline_percent: float | None
    response: bool | None
    substantial_response: bool | None
    remission: bool | None


class PlanView(BaseModel):
    """A patient's integration plan and outcomes."""

    patient_id: UUID
    waiting: list[DueView]
    integration_sessions: int
    outcomes: list[OutcomeView]
    completed_at: datetime | None
    discontinued: DiscontinuationReason | None

    @classmethod
    def of(cls, patient_id: UUID, state: PlanState) -> "PlanView":
        return cls(
            patient_id=patient_id,
            waiting=[
                DueView(
                    dosing_session_id=d.dosing_session_id,
                    discharged_at=d.discharged_at,
                    due_by=d.due_by,
                    overdue=d.dosing_session_id in state.overdue,
                )
                for d in state.open_due()
            ],
            integration_sessions=len(state.sessions),
            outcomes=[OutcomeView.model_validate(o, from_attributes=True) for o in state.outcomes],
            completed_at=state.completed.completed_at if state.completed else None,
            discontinued=state.discontinued.reason if state.discontinued else None,
        )


class Created(BaseModel):
    id: UUID


async def _staff(
    service: Integration,
    patient_id: UUID,
    request: RecordIntegrationSession | RecordOutcome | CompleteCourse | DiscontinueCourse,
    context: RequestContext,
    new_id: UUID | None = None,
) -> PlanState:
    command = StaffCommand(
        request=request,
        now=service.runtime.clock.now().astimezone(service.runtime.settings.clinic_zone),
        context=await service.context(patient_id),
        new_id=new_id,
    )
    decision = await service.staff(patient_id, command, context)
    return decision.state


@router.get("/plans/{patient_id}")
async def read_plan(
    patient_id: UUID, request: Request, context: Reader, service: Service
) -> PlanView:
    """The plan: integration sessions waiting (and overdue), outcomes, how the course ended."""
    state = await service.plan(patient_id)
    await service.runtime.record_read(
        request, context, patient_id, [DataCategory.INTEGRATION_NOTES, DataCategory.OUTCOMES]
    )
    return PlanView.of(patient_id, state)


@router.post("/plans/{patient_id}/integration-sessions", status_code=status.HTTP_201_CREATED)
async def record_integration_session(
    patient_id: UUID, body: RecordIntegrationSession, context: Therapist, service: Service
) -> Created:
    """An integration session; without `dosing_session_id` it integrates the oldest one waiting."""
    new_id = uuid4()
    await _staff(service, patient_id, body, context, new_id)
    return Created(id=new_id)


@router.post("/patients/{patient_id}/outcomes", status_code=status.HTTP_201_CREATED)
async def record_outcome(
    patient_id: UUID, body: RecordOutcome, context: Measurer, service: Service
) -> OutcomeView:
    """An outcome measure scored by the service, against the intake baseline."""
    state = await _staff(service, patient_id, body, context)
    return OutcomeView.model_validate(state.outcomes[-1], from_attributes=True)


@router.post("/courses/{patient_id}/completion")
async def complete_course(
    patient_id: UUID, body: CompleteCourse, context: Clinician, service: Service
) -> PlanView:
    """Complete the course: every planned session done and a final PHQ-9 measured after the last."""
    return PlanView.of(patient_id, await _staff(service, patient_id, body, context))


@router.post("/courses/{patient_id}/discontinuation")
async def discontinue_course(
    patient_id: UUID, body: DiscontinueCourse, context: Clinician, service: Service
) -> PlanView:
    """End the course early, with the reason."""
    return PlanView.of(patient_id, await _staff(service, patient_id, body, context))
