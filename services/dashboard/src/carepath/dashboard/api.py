"""The dashboard's HTTP API: the page, browser sign-in, the read models as JSON (scoped to the
caller's role, see `carepath.dashboard.scope`), live updates, acknowledgements."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import jwt
from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from carepath.chassis.auth import IdentityProviderUnavailable, Role, verify_token
from carepath.chassis.errors import ConcurrencyError, NotFound, RuleViolation
from carepath.chassis.http import RequestContext, context_for
from carepath.chassis.service import service_of
from carepath.contracts.access import AlertAcknowledged, DataCategory
from carepath.contracts.common import ContractModel
from carepath.dashboard.models import AlertView
from carepath.dashboard.scope import SECTIONS, RecentReads, Shown, scoped_summary
from carepath.dashboard.service import Changes, Dashboard
from carepath.dashboard.signin import (
    SESSION_COOKIE,
    BrowserSessions,
    end_session,
    keep_session,
    pasted_token,
    posted_from_elsewhere,
)

STATIC = Path(__file__).with_name("static")
MAY_VIEW = (Role.CLINICIAN, Role.NURSE, Role.THERAPIST, Role.INTAKE_COORDINATOR, Role.AUDITOR)

router = APIRouter(tags=["dashboard"], responses={401: {}, 403: {}})


def browser_sessions(request: Request) -> BrowserSessions:
    sessions: BrowserSessions = request.app.state.browser_sessions
    return sessions


def recent_reads(request: Request) -> RecentReads:
    reads: RecentReads = request.app.state.recent_reads
    return reads


Service = Annotated[Dashboard, Depends(service_of(Dashboard))]
Sessions = Annotated[BrowserSessions, Depends(browser_sessions)]
Reads = Annotated[RecentReads, Depends(recent_reads)]
Viewer = Annotated[RequestContext, Depends(context_for(*MAY_VIEW))]
Acknowledger = Annotated[RequestContext, Depends(context_for(Role.CLINICIAN, Role.NURSE))]


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The page (no patient data in it: it fetches `/api/summary` as the signed-in caller)."""
    return FileResponse(STATIC / "index.html")


@router.post("/login", include_in_schema=False, responses={303: {}})
async def sign_in(request: Request, token: Annotated[str, Form()] = "") -> RedirectResponse:
    """Sign a browser in with a token posted from the page's form (never in a URL): it goes
    into the session cookie, then back to the page. A token that is not accepted, or whose role
    has no view of the dashboard, goes back to the page with the reason, never the token."""
    if posted_from_elsewhere(request):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "sign in from the dashboard's own page, not another site"
        )
    pasted = pasted_token(token)
    try:
        principal = verify_token(request.app.state.settings, pasted) if pasted else None
    except IdentityProviderUnavailable:
        return RedirectResponse("/?signin=unavailable", status.HTTP_303_SEE_OTHER)
    except (jwt.InvalidTokenError, ValueError):
        principal = None
    if pasted is None or principal is None:
        return RedirectResponse("/?signin=failed", status.HTTP_303_SEE_OTHER)
    if principal.role not in MAY_VIEW:
        return RedirectResponse("/?signin=role", status.HTTP_303_SEE_OTHER)
    response = RedirectResponse("/?signin=ok", status.HTTP_303_SEE_OTHER)
    keep_session(response, pasted)
    return response


@router.post("/logout", include_in_schema=False, status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(request: Request, sessions: Sessions) -> Response:
    """Sign the browser out: the session cookie is cleared. It needs no role (it touches only
    the caller's own browser), but a signed-in browser's CSRF token, so that another site cannot
    sign it out."""
    if session_token := request.cookies.get(SESSION_COOKIE):
        sessions.check_csrf(request, session_token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    end_session(response)
    return response


class SignedIn(BaseModel):
    user_id: str
    role: Role
    sections: list[str] = Field(description="What `/api/summary` shows this role.")
    csrf_token: str | None = Field(
        description="For the X-CSRF-Token header of a signed-in browser's POST (null without "
        "a session cookie: a bearer call needs none)."
    )


@router.get("/api/session")
async def signed_in(request: Request, context: Viewer, sessions: Sessions) -> SignedIn:
    """Who is signed in, what the summary shows them, and the CSRF token of their session."""
    principal = context.principal
    return SignedIn(
        user_id=principal.user_id,
        role=principal.role,
        sections=sorted(SECTIONS.get(principal.role, ())),
        csrf_token=sessions.csrf_of(request),
    )


@router.get("/api/summary")
async def summary(
    request: Request, context: Viewer, service: Service, reads: Reads
) -> dict[str, Any]:
    """The read models as JSON, as much as the caller's role sees (`carepath.dashboard.scope`:
    funnel, today's board, alerts, outcomes, projection lag, dead letters). Each patient shown
    is recorded as read on `carepath.access.events` first (once per caller, patient and data
    category per `summary_read_record_minutes`)."""
    scoped, shown = scoped_summary(await service.summary(), context.principal.role)
    await record_shown(request, context, service, reads, shown)
    return scoped


async def record_shown(
    request: Request, context: RequestContext, service: Dashboard, reads: RecentReads, shown: Shown
) -> None:
    """Record the reads of `shown` not recorded lately; what could not be recorded is released
    (the next read records it) and the answer is not served (fail closed)."""
    due = reads.claim(context.principal, shown)
    pending = dict(due)
    try:
        for patient_id, categories in due.items():
            await service.runtime.record_read(request, context, patient_id, sorted(categories))
            del pending[patient_id]
    finally:
        reads.release(context.principal, pending)


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
    """Server-sent events: `update` whenever the read models change. Only the same roles as the
    summary may listen, and an update carries a change counter only, no read-model data: what
    the page then shows comes from `/api/summary`, scoped and recorded."""
    return EventSourceResponse(updates(service.changes), ping=15)


async def updates(changes: Changes) -> AsyncIterator[dict[str, str]]:
    """`update` events, one per change seen (`{"version": n}`), until the client leaves."""
    seen = -1
    while True:
        version = changes.version
        if version != seen:
            seen = version
            yield {"event": "update", "data": json.dumps({"version": version})}
            continue  # look again before waiting: a change made while this one was sent counts
        await changes.next_change(within_s=15)
