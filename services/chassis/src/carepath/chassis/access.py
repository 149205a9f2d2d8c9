"""Record-access events: every read of a patient's record leaves a `RecordAccessed` on
`carepath.access.events`, stored through the outbox like any other event.

The event is stored before the data is returned (fail closed): a read that cannot be recorded
is not served.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

from fastapi import Request

from carepath.chassis.auth import Principal
from carepath.chassis.errors import ConcurrencyError
from carepath.chassis.http import DEFAULT_PURPOSE, RequestContext
from carepath.chassis.store import EventMetadata, EventStore
from carepath.chassis.telemetry import current_traceparent
from carepath.contracts import actor_attribute
from carepath.contracts.access import (
    AccessAction,
    AccessOutcome,
    DataCategory,
    PurposeOfUse,
    RecordAccessed,
)

APPEND_ATTEMPTS = 10


def route_template(request: Request) -> str:
    """`<METHOD> <route template>` of the request, e.g. `GET /patients/{patient_id}`."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return f"{request.method} {path}"


async def record_access(
    store: EventStore,
    context: RequestContext,
    *,
    service: str,
    patient_id: UUID,
    resource: str,
    categories: Sequence[DataCategory],
    action: AccessAction = AccessAction.READ,
    outcome: AccessOutcome = AccessOutcome.SUCCESS,
) -> None:
    """Store one `RecordAccessed` in the patient's access stream of this service."""
    event = RecordAccessed(
        patient_id=patient_id,
        accessed_at=datetime.now(UTC),
        user_id=context.principal.user_id,
        role=context.principal.role.value,
        action=action,
        data_categories=list(categories),
        resource=resource,
        service=service,
        client_address=context.client,
        purpose_of_use=context.purpose_of_use,
        outcome=outcome,
    )
    await _append(store, event, service, context.metadata(service))


async def _append(
    store: EventStore, event: RecordAccessed, service: str, metadata: EventMetadata
) -> None:
    """Append `event` to the patient's access stream of `service`."""
    stream = f"access-{service}-{event.patient_id}"
    # Accesses to one patient may race; each appends at the version it sees, and retries.
    for attempt in range(APPEND_ATTEMPTS):
        try:
            version = await store.version(stream)
            await store.append(
                stream, version, [event], subject=str(event.patient_id), metadata=metadata
            )
            return
        except ConcurrencyError:
            if attempt == APPEND_ATTEMPTS - 1:
                raise


# What a refused request about a patient would have touched, by the service that refused it.
SERVICE_CATEGORY = {
    "intake": DataCategory.DEMOGRAPHICS,
    "eligibility": DataCategory.ELIGIBILITY,
    "session": DataCategory.SESSION_CLINICAL,
    "integration": DataCategory.INTEGRATION_NOTES,
    "dashboard": DataCategory.SESSION_CLINICAL,
    "audit": DataCategory.AUDIT_TRAIL,
}
ATTEMPTED = {"GET": AccessAction.READ, "POST": AccessAction.CREATE, "DELETE": AccessAction.DELETE}
ANONYMOUS = "anonymous"  # the user and role of a request without a valid token


async def record_refusal(store: EventStore, request: Request, service: str) -> bool:
    """Record a refused request (401 or 403) about a patient, the path's `patient_id`, as a
    `RecordAccessed` with outcome `denied`: who tried (the token's caller, or `anonymous`),
    what, from where. A request that names no patient is not recorded (there is no patient to
    file it under). Returns whether it was recorded."""
    try:
        patient_id = UUID(str(request.path_params["patient_id"]))
    except (KeyError, ValueError):
        return False
    principal: Principal | None = getattr(request.state, "principal", None)
    user, role = (principal.user_id, principal.role.value) if principal else (ANONYMOUS,) * 2
    event = RecordAccessed(
        patient_id=patient_id,
        accessed_at=datetime.now(UTC),
        user_id=user,
        role=role,
        action=ATTEMPTED.get(request.method, AccessAction.UPDATE),
        data_categories=[SERVICE_CATEGORY.get(service, DataCategory.DEMOGRAPHICS)],
        resource=route_template(request),
        service=service,
        client_address=request.client.host if request.client else None,
        # what the caller's role would have claimed (an anonymous caller claims treatment)
        purpose_of_use=DEFAULT_PURPOSE.get(principal.role, PurposeOfUse.TREATMENT)
        if principal
        else PurposeOfUse.TREATMENT,
        outcome=AccessOutcome.DENIED,
    )
    metadata = EventMetadata(
        source=f"/carepath/{service}",
        actor=actor_attribute(role, user),
        correlation_id=str(uuid4()),
        traceparent=current_traceparent(),
    )
    await _append(store, event, service, metadata)
    return True
