"""HTTP plumbing shared by the services: request context for events, and error answers."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import Depends, FastAPI, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carepath.chassis.auth import Principal, Role, authenticated, require_role
from carepath.chassis.errors import ConcurrencyError, InvalidField, NotFound, RuleViolation
from carepath.chassis.sealing import KeyServiceUnavailable, PatientErased
from carepath.chassis.store import EventMetadata
from carepath.chassis.telemetry import current_traceparent
from carepath.contracts import actor_attribute
from carepath.contracts.access import PurposeOfUse

CORRELATION_HEADER = "X-Correlation-ID"
PURPOSE_HEADER = "X-Purpose-Of-Use"
DEFAULT_PURPOSE = {
    Role.AUDITOR: PurposeOfUse.AUDIT,
    Role.OPERATOR: PurposeOfUse.OPERATIONS,
    Role.SERVICE: PurposeOfUse.OPERATIONS,
}


@dataclass(frozen=True)
class RequestContext:
    """What a request contributes to the events it causes: who, which request, which trace."""

    principal: Principal
    correlation_id: str
    traceparent: str | None
    client: str | None
    purpose_of_use: PurposeOfUse

    def metadata(self, service_name: str) -> EventMetadata:
        """Event metadata for events this request causes in `service_name`."""
        return EventMetadata(
            source=f"/carepath/{service_name}",
            actor=actor_attribute(self.principal.role.value, self.principal.user_id),
            correlation_id=self.correlation_id,
            causation_id=self.correlation_id,
            traceparent=self.traceparent,
            purpose_of_use=self.purpose_of_use.value,
        )


def request_context(
    request: Request,
    principal: Annotated[Principal, Depends(authenticated)],
    purpose: Annotated[
        PurposeOfUse | None,
        Header(alias=PURPOSE_HEADER, description="Why the record is accessed; default by role."),
    ] = None,
) -> RequestContext:
    """FastAPI dependency: the context of an authenticated request."""
    return RequestContext(
        principal=principal,
        correlation_id=correlation_id(request),
        traceparent=current_traceparent(),
        client=request.client.host if request.client else None,
        purpose_of_use=purpose or DEFAULT_PURPOSE.get(principal.role, PurposeOfUse.TREATMENT),
    )


def correlation_id(request: Request) -> str:
    """The caller's `X-Correlation-ID` (a UUID: it is copied into every event and header this
    request causes, so free text is refused), or a new one."""
    given = request.headers.get(CORRELATION_HEADER)
    if given is None:
        return str(uuid4())
    try:
        return str(UUID(given))
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "type": "uuid_parsing",
                    "loc": ["header", CORRELATION_HEADER],
                    "msg": "must be a UUID, e.g. 3f0c9a52-5b1e-4d2a-9c41-7a1e2f3b4c5d",
                }
            ],
        ) from None


class BodySizeLimit:
    """ASGI middleware: a request body over `max_bytes` is refused with 413 before anything
    parses it or checks who sent it, by its Content-Length or, without one, as it arrives.
    (Starlette has no such limit of its own; this is the smallest one that covers both.)"""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        messages, size = [], 0  # no declared length: read it (up to the limit), then replay
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"the request body is larger than {self.max_bytes:,} bytes"},
            status.HTTP_413_CONTENT_TOO_LARGE,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def context_for(*allowed: Role) -> Callable[..., RequestContext]:
    """FastAPI dependency factory: the request's context, if the caller's role is allowed."""
    check = require_role(*allowed)

    def dependency(
        context: Annotated[RequestContext, Depends(request_context)],
        _principal: Annotated[Principal, Depends(check)],
    ) -> RequestContext:
        return context

    return dependency


def add_error_handlers(app: FastAPI) -> None:
    """Domain errors become 404/409/410 with the reason in `detail`; an unreachable key
    service, 503."""

    async def conflict(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_409_CONFLICT)

    async def not_found(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_404_NOT_FOUND)

    async def invalid_field(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InvalidField)
        detail = [
            {"type": "value_error", "loc": ["body", *error.field.split(".")], "msg": error.message}
        ]
        return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    app.add_exception_handler(InvalidField, invalid_field)
    app.add_exception_handler(ConcurrencyError, conflict)
    app.add_exception_handler(RuleViolation, conflict)
    app.add_exception_handler(NotFound, not_found)

    async def gone(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status.HTTP_410_GONE)

    async def key_service_away(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(
            {"detail": f"{error}; nothing was recorded, try again"},
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    app.add_exception_handler(PatientErased, gone)
    app.add_exception_handler(KeyServiceUnavailable, key_service_away)
