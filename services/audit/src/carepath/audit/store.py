"""The audit service's trail: append-only rows, each chained to the one before by hash."""

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.audit.trail import AuditEntry, consent_change, entry_for
from carepath.chassis.database import upsert
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


async def append_entries(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """Inbox effect, a batch at a time: each event's entry, chained to the one before (the last
    of the trail for the first), naming the consent in force for its patient (unless the event
    names its own). One read of the chain's end and of the patients' consents, one insert of the
    entries and one upsert of the consents that changed."""
    last = await session.scalar(
        select(col(TrailRow.entry_hash)).order_by(col(TrailRow.position).desc()).limit(1)
    )
    patients = sorted({event.subject for event in events})
    known = await session.execute(
        select(col(ConsentBasis.patient_id), col(ConsentBasis.consent_event_id)).where(
            col(ConsentBasis.patient_id).in_(patients)
        )
    )
    in_force: dict[str, str | None] = dict(known.tuples().all())
    changed: set[str] = set()
    entries, previous = [], last or ""
    # A batch holds each partition's records one after the other; in the trail they follow the
    # time they were recorded, so a read after a withdrawal names no consent.
    for event in sorted(events, key=lambda e: e.time):
        entry = entry_for(
            event, f"{event.streamid}#{event.streamsequence}", previous, in_force.get(event.subject)
        )
        entries.append(entry.as_dict())
        previous = entry.entry_hash
        changes, consent = consent_change(event)
        if changes:
            in_force[event.subject] = consent
            changed.add(event.subject)
    await session.execute(insert(TrailRow), entries)
    await upsert(
        session,
        ConsentBasis.__table__,  # type: ignore[attr-defined]
        [{"patient_id": p, "consent_event_id": in_force[p]} for p in sorted(changed)],
    )


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


__all__ = ["AuditEntry", "ConsentBasis", "TrailRow", "append_entries", "chain_breaks"]
