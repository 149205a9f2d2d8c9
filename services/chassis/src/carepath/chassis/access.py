"""Record-access events: every read of a patient's record leaves a `RecordAccessed` on
`carepath.access.events`, stored through the outbox like any other event.

The event is stored before the data is returned (fail closed): a read that cannot be recorded
is not served.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from fastapi import Request

from carepath.chassis.errors import ConcurrencyError
from carepath.chassis.http import RequestContext
from carepath.chassis.store import EventStore
from carepath.contracts.access import AccessAction, AccessOutcome, DataCategory, RecordAccessed

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
    stream = f"access-{service}-{patient_id}"
    # Reads of one patient may race; each appends at the version it sees, and retries.
    for attempt in range(APPEND_ATTEMPTS):
        try:
            version = await store.version(stream)
            await store.append(
                stream,
                version,
                [event],
                subject=str(patient_id),
                metadata=context.metadata(service),
            )
            return
        except ConcurrencyError:
            if attempt == APPEND_ATTEMPTS - 1:
                raise
