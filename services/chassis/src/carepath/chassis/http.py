"""HTTP plumbing shared by the services: request context for events, and error answers."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import uuid4

from fastapi import Depends, FastAPI, Header, Request, status
from fastapi.responses import JSONResponse

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
        correlation_id=request.headers.get(CORRELATION_HEADER) or str(uuid4()),
        traceparent=current_traceparent(),
        client=request.client.host if request.client else None,
        purpose_of_use=purpose or DEFAULT_PURPOSE.get(principal.role, PurposeOfUse.TREATMENT),
    )


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
