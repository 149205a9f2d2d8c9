"""Intake's HTTP API: referral and reading a patient's intake record."""

from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel

from carepath.chassis.auth import Principal, Role, require_role
from carepath.chassis.decider import execute, load_state
from carepath.chassis.errors import NotFound
from carepath.chassis.http import RequestContext, request_context
from carepath.chassis.runtime import ServiceRuntime
from carepath.contracts import ReferPatient, Referral
from carepath.intake.domain import IntakeStatus, intake, stream_id

router = APIRouter(tags=["intake"])

MAY_REFER = (Role.INTAKE_COORDINATOR, Role.CLINICIAN)
MAY_READ = (Role.INTAKE_COORDINATOR, Role.CLINICIAN, Role.AUDITOR)


class PatientCreated(BaseModel):
    patient_id: UUID


class PatientRecord(BaseModel):
    """A patient's intake record as staff see it."""

    patient_id: UUID
    status: IntakeStatus
    referral: Referral
    version: int


def runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(runtime)]


@router.post(
    "/patients",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_role(*MAY_REFER))],
    responses={401: {}, 403: {}, 422: {"description": "a field is missing or invalid"}},
)
async def refer_patient(
    referral: Referral,
    context: Annotated[RequestContext, Depends(request_context)],
    service: Runtime,
) -> PatientCreated:
    """Open a patient's record from a referral; returns the new pseudonymous patient id."""
    patient_id = uuid4()
    command = ReferPatient(patient_id=patient_id, **referral.model_dump())
    await execute(
        service.store,
        intake,
        stream_id(patient_id),
        command,
        subject=str(patient_id),
        metadata=context.metadata(service.settings.service_name),
    )
    service.relay.wake()
    return PatientCreated(patient_id=patient_id)


@router.get("/patients/{patient_id}", responses={401: {}, 403: {}, 404: {}})
async def read_patient(
    patient_id: UUID,
    _caller: Annotated[Principal, Depends(require_role(*MAY_READ))],
    service: Runtime,
) -> PatientRecord:
    """A patient's intake record."""
    state, version = await load_state(service.store, intake, stream_id(patient_id))
    if state.referral is None:
        raise NotFound(f"no patient {patient_id}")
    return PatientRecord(
        patient_id=patient_id, status=state.status, referral=state.referral, version=version
    )
