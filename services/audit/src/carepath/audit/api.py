"""The audit service's HTTP API (role `auditor` only): the trail, filtered and sorted, a check of
its hash chain, and the record of exports made by `carepath-audit export`."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, Field
from sqlalchemy import select
from sqlmodel import col

from carepath.audit.store import TrailRow, chain_breaks
from carepath.audit.trail import FIELDS
from carepath.chassis.auth import Role
from carepath.chassis.http import RequestContext, context_for
from carepath.chassis.runtime import ServiceRuntime
from carepath.contracts.access import AccessAction, DataCategory
from carepath.contracts.common import ContractModel, within_time_bounds

router = APIRouter(tags=["audit"], responses={401: {}, 403: {}, 422: {}})
Auditor = Annotated[RequestContext, Depends(context_for(Role.AUDITOR))]
SortField = StrEnum("SortField", {name: name for name in FIELDS})  # type: ignore[misc]


def runtime(request: Request) -> ServiceRuntime:
    service: ServiceRuntime = request.app.state.runtime
    return service


Runtime = Annotated[ServiceRuntime, Depends(runtime)]


def _within_time_bounds(value: datetime | None) -> datetime | None:
    if value is not None:
        within_time_bounds(value if value.tzinfo else value.replace(tzinfo=UTC))  # naive: UTC
    return value


PeriodEnd = Annotated[datetime | None, AfterValidator(_within_time_bounds)]
"""`since` / `until`: with or without an offset (none: UTC), within the contracts' bounds."""


@router.get("/trail")
async def read_trail(
    request: Request,
    context: Auditor,
    service: Runtime,
    patient: UUID | None = None,
    since: PeriodEnd = None,
    until: PeriodEnd = None,
    sort: SortField = SortField["recorded"],
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Audit entries (who, role, action, patient, data category, when, source, purpose, consent),
    filtered by patient and period, sorted by any field."""
    column = col(getattr(TrailRow, sort.value))
    query = select(TrailRow).order_by(
        column.desc() if order == "desc" else column, col(TrailRow.position)
    )
    if patient is not None:
        query = query.where(col(TrailRow.patient_id) == str(patient))
    if since is not None:
        query = query.where(col(TrailRow.recorded) >= since.isoformat())
    if until is not None:
        query = query.where(col(TrailRow.recorded) <= until.isoformat())
    async with service.store.transaction() as session:
        rows = list(await session.scalars(query.limit(limit)))
    if patient is not None:  # reading a patient's trail is itself an access to record
        await service.record_read(request, context, patient, [DataCategory.AUDIT_TRAIL])
    return {
        "fields": list(FIELDS),
        "entries": [row.model_dump(exclude={"position"}) for row in rows],
    }


@router.get("/trail/verify")
async def verify_trail(_auditor: Auditor, service: Runtime) -> dict[str, Any]:
    """Recompute the trail's hash chain: any altered, removed or inserted row breaks it."""
    async with service.store.transaction() as session:
        rows = list(await session.scalars(select(TrailRow).order_by(col(TrailRow.position))))
    broken = chain_breaks(rows)
    return {"entries": len(rows), "intact": not broken, "broken_at_positions": broken[:100]}


class ExportNotice(ContractModel):
    """Request body of `POST /exports`: what an auditor is about to export, so each patient in
    it has the export on their record before the report exists."""

    format: Literal["json", "csv", "html", "fhir", "timeline"]
    patients: list[UUID] = Field(max_length=100_000, description="Every patient in the report.")
    entries: int = Field(ge=0, description="How many trail entries the report holds.")


@router.post("/exports")
async def record_export(
    request: Request, context: Auditor, service: Runtime, notice: ExportNotice
) -> dict[str, Any]:
    """Record an export of the trail: one `RecordAccessed` (action `export`) per patient in it,
    with the caller's purpose of use. `carepath-audit export` calls this before it writes."""
    for patient in dict.fromkeys(notice.patients):  # each patient once, in order
        await service.record_read(
            request, context, patient, [DataCategory.AUDIT_TRAIL], AccessAction.EXPORT
        )
    return {"recorded": len(set(notice.patients)), "format": notice.format}
