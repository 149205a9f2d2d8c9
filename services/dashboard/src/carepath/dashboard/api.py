"""The dashboard's HTTP API: the page, the read models as JSON, live updates, acknowledgements."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import jwt
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from carepath.chassis.auth import TOKEN_COOKIE, Role, verify_token
from carepath.chassis.errors import ConcurrencyError, NotFound, RuleViolation
from carepath.chassis.http import RequestContext, context_for
from carepath.chassis.service import service_of
from carepath.contracts.access import AlertAcknowledged, DataCategory
from carepath.contracts.common import ContractModel
from carepath.dashboard.models import AlertView
from carepath.dashboard.service import Dashboard

STATIC = Path(__file__).with_name("static")
MAY_VIEW = (Role.CLINICIAN, Role.NURSE, Role.THERAPIST, Role.INTAKE_COORDINATOR, Role.AUDITOR)

router = APIRouter(tags=["dashboard"], responses={401: {}, 403: {}})


Service = Annotated[Dashboard, Depends(service_of(Dashboard))]
Viewer = Annotated[RequestContext, Depends(context_for(*MAY_VIEW))]
Acknowledger = Annotated[RequestContext, Depends(context_for(Role.CLINICIAN, Role.NURSE))]


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The page (no patient data in it: it fetches `/api/summary` with the caller's token)."""
    return FileResponse(STATIC / "index.html")


@router.get("/login", include_in_schema=False)
async def login(request: Request, token: Annotated[str, Query(min_length=10)]) -> RedirectResponse:
    """Sign a browser in: the token goes into an HttpOnly cookie, then back to the page."""
    try:
        verify_token(request.app.state.settings, token)
    except (jwt.InvalidTokenError, ValueError):
        return RedirectResponse("/?signin=failed", status.HTTP_303_SEE_OTHER)
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.get("/api/summary")
async def summary(_caller: Viewer, service: Service) -> dict[str, Any]:
    """The read models as JSON: funnel, today's board, alerts, outcomes, projection lag, and the
    dead letters of every consumer (all, and those waiting for a replay)."""
    return await service.summary()


class Timeline(BaseModel):
    patient_id: UUID
    entries: list[dict[str, Any]]
    erased_at: str | None = None
    """When the patient's identifying and free-text data was erased; the pathway's plain facts
    remain."""


@router.get("/api/patients/{patient_id}/timeline", responses={404: {}})
async def patient_timeline(
    patient_id: UUID, request: Request, context: Viewer, service: Service
) -> Timeline:
    """A patient's pathway, event by event. Reads are recorded on `carepath.access.events`."""
    entries = await service.timeline(patient_id)
    if not entries:
        raise NotFound(f"no events for patient {patient_id}")
    await service.runtime.record_read(
        request, context, patient_id, [DataCategory.SESSION_CLINICAL, DataCategory.ASSESSMENTS]
    )
    erased_at = next((e["at"] for e in entries if e["type"] == "ErasureRecorded"), None)
    return Timeline(patient_id=patient_id, entries=entries, erased_at=erased_at)


class Acknowledgement(ContractModel):
    """Request body of an acknowledgement: like every command, no unknown field and no control
    character in the note."""

    note: str | None = Field(
        default=None, max_length=2000, description="What was done about it (PHI)."
    )


@router.post("/api/alerts/{alert_id}/acknowledgement", responses={404: {}, 409: {}})
async def acknowledge(
    alert_id: UUID, context: Acknowledger, service: Service, body: Acknowledgement | None = None
) -> dict[str, str]:
    """Acknowledge an alert: recorded as `AlertAcknowledged` (who, when), then off the list."""
    async with service.runtime.store.transaction() as session:
        alert = await session.get(AlertView, alert_id)
    if alert is None or alert.raised_at is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.acknowledged_at is not None:
        raise RuleViolation(f"alert {alert_id} was already acknowledged by {alert.acknowledged_by}")
    if alert.kind == "suicidality" and context.principal.role is not Role.CLINICIAN:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "a suicidality alert needs same-day follow-up by a clinician: only a clinician "
            "acknowledges it",
        )
    event = AlertAcknowledged(
        patient_id=alert.patient_id,
        alert_event_id=alert_id,
        alert_kind=alert.kind,
        acknowledged_at=service.runtime.clock.now(),
        user_id=context.principal.user_id,
        role=context.principal.role.value,
        note=body.note if body else None,
    )
    try:  # one stream per alert: a second acknowledgement at the same time loses cleanly
        await service.runtime.store.append(
            f"alert-{alert_id}",
            0,
            [event],
            subject=str(alert.patient_id),
            metadata=context.metadata(service.name),
        )
    except ConcurrencyError:
        raise RuleViolation(f"alert {alert_id} was already acknowledged") from None
    service.runtime.relay.wake()
    return {"acknowledged_at": event.acknowledged_at.isoformat()}


@router.get("/stream", include_in_schema=False)
async def stream(_caller: Viewer, service: Service) -> EventSourceResponse:
    """Server-sent events: `update` whenever the read models change."""

    async def updates() -> AsyncIterator[dict[str, str]]:
        seen = -1
        while True:
            version = service.changes.version
            if version != seen:
                seen = version
                yield {"event": "update", "data": json.dumps({"version": version})}
            await service.changes.next_change(within_s=15)

    return EventSourceResponse(updates(), ping=15)
