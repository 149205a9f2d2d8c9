"""The audit service's trail: append-only rows, each chained to the one before by hash."""

import hashlib
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.audit.trail import AuditEntry, entry_for
from carepath.chassis.evidence import canonical
from carepath.contracts import CloudEvent


class TrailRow(SQLModel, table=True):
    """One audit-trail entry. Rows are only ever inserted."""

    __tablename__ = "audit_trail"

    position: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    recorded: str = Field(index=True)
    patient_id: str = Field(index=True)
    user_id: str = Field(index=True)
    role: str
    action: str
    outcome: str
    event_type: str
    data_category: str
    source: str
    client_address: str | None = None
    purpose: str
    consent: str | None = None
    event_id: str = Field(unique=True)
    location: str
    entry_hash: str


async def append_entry(session: AsyncSession, event: CloudEvent) -> None:
    """Inbox effect: add the event's entry, chained to the last one."""
    last = await session.scalar(
        select(col(TrailRow.entry_hash)).order_by(col(TrailRow.position).desc()).limit(1)
    )
    entry = entry_for(event, f"{event.streamid}#{event.sequence}", last or "")
    session.add(TrailRow(**entry.as_dict()))


def chain_breaks(rows: list[TrailRow]) -> list[int]:
    """Positions whose hash does not follow from the entry and the hash before it."""
    broken, previous = [], ""
    for row in rows:
        entry: dict[str, Any] = row.model_dump(exclude={"position"})
        expected = hashlib.sha256(
            previous.encode() + canonical({**entry, "entry_hash": ""})
        ).hexdigest()
        if row.entry_hash != expected:
            broken.append(row.position or 0)
        previous = row.entry_hash
    return broken


__all__ = ["AuditEntry", "TrailRow", "append_entry", "chain_breaks"]
