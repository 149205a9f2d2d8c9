"""The audit service's trail: append-only rows, each chained to the one before by hash."""

import hashlib
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.audit.trail import AuditEntry, consent_change, entry_for
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


class ConsentBasis(SQLModel, table=True):
    """Each patient's consent in force, as the trail has seen it: the `ConsentGiven` that every
    later access and change relied on, until a `ConsentWithdrawn` (then null)."""

    __tablename__ = "audit_consent_basis"

    patient_id: str = Field(primary_key=True)
    consent_event_id: str | None = None


async def append_entry(session: AsyncSession, event: CloudEvent) -> None:
    """Inbox effect: add the event's entry, chained to the last one, naming the consent in force
    for its patient (unless the event names its own)."""
    last = await session.scalar(
        select(col(TrailRow.entry_hash)).order_by(col(TrailRow.position).desc()).limit(1)
    )
    basis = await session.get(ConsentBasis, event.subject)
    in_force = basis.consent_event_id if basis else None
    entry = entry_for(event, f"{event.streamid}#{event.sequence}", last or "", in_force)
    session.add(TrailRow(**entry.as_dict()))
    changes, consent = consent_change(event)
    if changes:
        if basis is None:
            session.add(ConsentBasis(patient_id=event.subject, consent_event_id=consent))
        else:
            basis.consent_event_id = consent


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


__all__ = ["AuditEntry", "ConsentBasis", "TrailRow", "append_entry", "chain_breaks"]
