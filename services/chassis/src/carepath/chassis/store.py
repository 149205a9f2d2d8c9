"""The event store: an append-only table of every event a service has decided, and its outbox.

Each row is one event of one stream (a patient's record in one bounded context). Appends carry
the stream version the caller decided against; a stale version raises `ConcurrencyError`, so two
writers never both win. Rows start unpublished; the outbox relay publishes them in position order
and marks them, so the table is also the transactional outbox.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    Row,
    Select,
    UniqueConstraint,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.chassis.database import session_factory
from carepath.chassis.errors import ConcurrencyError
from carepath.chassis.evidence import Signer, digest
from carepath.chassis.sealing import (
    Keyring,
    PatientErased,
    is_sealed_payload,
    needs_sealing,
    seal,
    unseal,
)
from carepath.contracts import CloudEvent, DomainEvent, registry
from carepath.contracts.envelope import JCS_SHA256, schema_id
from carepath.contracts.privacy import ERASED, PROTECTED


class EventRecord(SQLModel, table=True):
    """One stored event. Never updated, except `published_at` once, by the relay."""

    __tablename__ = "event_store"
    __table_args__ = (
        UniqueConstraint("stream_id", "sequence", name="uq_event_store_stream_sequence"),
        Index(
            "ix_event_store_unpublished",
            "position",
            postgresql_where=Column("published_at").is_(None),
            sqlite_where=Column("published_at").is_(None),
        ),
    )

    position: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    stream_id: str = Field(max_length=200, index=True)
    sequence: int
    event_id: UUID = Field(unique=True)
    event_type: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    meta: dict[str, Any] = Field(sa_column=Column("metadata", JSON, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    prevhash: str | None = Field(default=None, max_length=64)
    signature: str | None = Field(default=None, max_length=200)


_RECORDED = "position stream_id sequence event_id event_type subject payload meta recorded_at"
_RECORDED += " prevhash signature"


def select_recorded() -> Select[Any]:
    """A select of the columns a `RecordedEvent` is made of: plain rows, which cost a fraction
    of ORM objects to read (the relay and the write path read thousands)."""
    return select(*(getattr(EventRecord, name) for name in _RECORDED.split()))


@dataclass(frozen=True)
class EventMetadata:
    """Who and what caused an event: copied into the CloudEvents extension attributes."""

    source: str
    actor: str
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    purpose_of_use: str | None = None
    occurred_at: datetime | None = None
    """The clinical time of events the decider left undated (a reaction's: its cause's);
    unset, they happened when they are recorded. Goes into the payload, not the attributes."""

    def as_dict(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in self.__dict__.items()
            if value is not None and key != "occurred_at"
        }


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the store holds it."""

    position: int
    stream_id: str
    sequence: int
    event_id: UUID
    event_type: str
    subject: str
    payload: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    prevhash: str | None = None
    signature: str | None = None
    opened: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The payload with its sealed fields in clear, when this service has opened them (or has
    just sealed them); never stored, sent, hashed or signed."""
    mask: str = field(default=PROTECTED, compare=False, repr=False)
    """What a sealed field that was not opened reads as: `protected`, or `erased`."""

    def as_row(self) -> dict[str, Any]:
        """The columns of its `EventRecord` (the position is the database's to assign)."""
        return {
            "stream_id": self.stream_id,
            "sequence": self.sequence,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "subject": self.subject,
            "payload": self.payload,
            "meta": self.metadata,
            "recorded_at": self.recorded_at,
            "prevhash": self.prevhash,
            "signature": self.signature,
        }

    def event(self) -> DomainEvent:
        """The payload as its event model: sealed fields in clear if opened, else masked."""
        if self.opened is not None:
            return registry.parse_opened(self.event_type, self.opened)
        return registry.parse(self.event_type, self.payload, mask=self.mask)

    def to_cloud_event(self) -> CloudEvent:
        """The wire form (ARCHITECTURE.md, "Events on the wire"), in the envelope version it
        was recorded with (version 1 for events recorded before versions were)."""
        meta = self.metadata
        if meta.get("envelopeversion") == 2:  # as recorded: what its signature covers
            version: dict[str, Any] = {
                "streamsequence": self.sequence,
                "dataschema": meta["dataschema"],
                "digestalg": meta["digestalg"],
            }
        else:
            version = {"sequence": self.sequence}
        return CloudEvent(
            **version,
            id=self.event_id,
            source=meta["source"],
            type=self.event_type,
            time=self.recorded_at,
            subject=self.subject,
            data=self.payload,
            streamid=self.stream_id,
            correlationid=meta["correlation_id"],
            causationid=meta.get("causation_id"),
            actor=meta["actor"],
            traceparent=meta.get("traceparent"),
            purposeofuse=meta.get("purpose_of_use"),
            prevhash=self.prevhash,
            signature=self.signature,
            keyid=meta.get("keyid"),
        )

    @classmethod
    def from_record(cls, row: EventRecord | Row[Any]) -> "RecordedEvent":
        recorded_at = row.recorded_at
        if recorded_at.tzinfo is None:  # SQLite keeps no zone; we only ever write UTC
            recorded_at = recorded_at.replace(tzinfo=UTC)
        assert row.position is not None
        return cls(
            position=row.position,
            stream_id=row.stream_id,
            sequence=row.sequence,
            event_id=row.event_id,
            event_type=row.event_type,
            subject=row.subject,
            payload=row.payload,
            metadata=row.meta,
            recorded_at=recorded_at,
            prevhash=row.prevhash,
            signature=row.signature,
        )


UNREAD = object()  # `append`: the stream's tail was not read by the caller


class EventStore:
    """Append and load event streams; list and mark what the relay has yet to publish.

    Every method takes an optional `session`: pass one to take part in the caller's transaction
    (an inbox handler appending the events a policy decided); leave it out for a transaction of
    its own.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        signer: Signer | None = None,
        keys: Keyring | None = None,
        envelope_version: int = 2,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.keys = keys
        self.envelope_version = envelope_version
        """The CloudEvents envelope new events are recorded in (`contracts.envelope`)."""
        self._sessions = session_factory(engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One database transaction: committed on success, rolled back on any error."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _within(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        if session is not None:
            yield session
        else:
            async with self.transaction() as own:
                yield own

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        *,
        subject: str,
        metadata: EventMetadata,
        session: AsyncSession | None = None,
        tail: object = UNREAD,  # a RecordedEvent, None (empty stream), or UNREAD
    ) -> list[RecordedEvent]:
        """Append `events` after version `expected_version` (0 for a new stream), atomically.

        Raises `ConcurrencyError` when the stream is no longer at `expected_version`. A caller
        that has just loaded the stream passes its last event as `tail` (None: empty stream) to
        save reading it again; the unique (stream, sequence) index still catches any writer that
        came in between.
        """
        if not events:
            return []
        try:
            async with self._within(session) as tx:
                pending = await self.prepare(
                    stream_id, expected_version, events, subject, metadata, tx, tail
                )
                return await self.insert(pending, tx)
        except IntegrityError:
            # A concurrent writer inserted the same (stream, sequence) between our check and insert.
            raise ConcurrencyError(
                stream_id, expected_version, await self.version(stream_id)
            ) from None

    async def prepare(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        subject: str,
        metadata: EventMetadata,
        tx: AsyncSession,
        tail: object = UNREAD,
    ) -> list[RecordedEvent]:
        """The events as they will be stored after version `expected_version`: sealed, chained
        and signed, not inserted yet (`insert`). Raises `ConcurrencyError` when the stream is
        no longer at that version."""
        now = datetime.now(UTC)
        drafts = [
            RecordedEvent(
                position=0,  # assigned by the database
                stream_id=stream_id,
                sequence=expected_version + offset,
                event_id=uuid4(),
                event_type=event.event_type(),
                subject=subject,
                payload=_dated(event, metadata.occurred_at or now),
                metadata=metadata.as_dict(),
                recorded_at=now,
            )
            for offset, event in enumerate(events, start=1)
        ]
        drafts = await self._sealed(drafts, events, tx)
        last = await self._last(stream_id, tx) if tail is UNREAD else tail
        assert last is None or isinstance(last, RecordedEvent)
        actual = last.sequence if last else 0
        if actual != expected_version:
            raise ConcurrencyError(stream_id, expected_version, actual)
        return self._chained(drafts, digest(last.to_cloud_event()) if last else None)

    async def prepare_keys(self, subjects: Sequence[str], tx: AsyncSession) -> None:
        """Get the keys of these patients ready at once, for several appends to seal with."""
        if self.keys is not None and subjects:
            await self.keys.prepare_keys([UUID(subject) for subject in subjects], tx)

    async def insert(self, pending: list[RecordedEvent], tx: AsyncSession) -> list[RecordedEvent]:
        """Insert prepared events (of one stream or several) in one statement; returns them with
        their positions. The unique (stream, sequence) index raises `IntegrityError` when another
        writer came first."""
        if not pending:
            return []
        inserted = await tx.execute(
            insert(EventRecord).returning(col(EventRecord.position), sort_by_parameter_order=True),
            [event.as_row() for event in pending],
        )
        positions = [int(position or 0) for position in inserted.scalars()]
        return [
            replace(event, position=position)
            for event, position in zip(pending, positions, strict=True)
        ]

    async def _sealed(
        self, drafts: list[RecordedEvent], events: Sequence[DomainEvent], tx: AsyncSession
    ) -> list[RecordedEvent]:
        """Each draft with its protected fields sealed with the patient's key (the clear payload
        kept as `opened`); `PatientErased` for a patient whose key was destroyed."""
        if not any(needs_sealing(event) for event in events):
            return drafts
        if self.keys is None:
            raise RuntimeError("this event store has no keyring: protected fields cannot be sealed")
        key = await self.keys.data_key(UUID(drafts[0].subject), session=tx)
        return [
            replace(
                draft,
                payload=seal(draft.payload, draft.event_type, draft.event_id, key),
                opened=draft.payload,
            )
            if needs_sealing(event)
            else draft
            for draft, event in zip(drafts, events, strict=True)
        ]

    async def _opened(self, recorded: list[RecordedEvent], tx: AsyncSession) -> list[RecordedEvent]:
        """`recorded` with the sealed fields opened where this store has a keyring; those of an
        erased patient read as `erased`."""
        if self.keys is None:
            return recorded
        keys: dict[str, bytes | None] = {}
        opened = []
        for event in recorded:
            if not is_sealed_payload(event.event_type, event.payload):
                opened.append(event)
                continue
            if event.subject not in keys:
                try:
                    keys[event.subject] = await self.keys.data_key(
                        UUID(event.subject),
                        session=tx,
                        create=False,  # sealed: it has one
                    )
                except PatientErased:
                    keys[event.subject] = None
            key = keys[event.subject]
            opened.append(
                replace(event, mask=ERASED)
                if key is None
                else replace(
                    event, opened=unseal(event.payload, event.event_type, event.event_id, key)
                )
            )
        return opened

    def _chained(self, drafts: list[RecordedEvent], previous: str | None) -> list[RecordedEvent]:
        """Link each event to the one before it and sign it (see `evidence`)."""
        chained = []
        for draft in drafts:
            # the signature names its key, so keys can rotate; the envelope is recorded as it
            # is signed
            stamp: dict[str, Any] = {"keyid": self.signer.key_id} if self.signer else {}
            if self.envelope_version == 2:
                stamp |= {
                    "envelopeversion": 2,
                    "digestalg": JCS_SHA256,
                    "dataschema": schema_id(draft.event_type),
                }
            linked = replace(draft, prevhash=previous, metadata={**draft.metadata, **stamp})
            previous = digest(linked.to_cloud_event())
            chained.append(
                replace(linked, signature=self.signer.sign(previous) if self.signer else None)
            )
        return chained

    async def positions_of(self, event_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The positions of those of these events that are stored."""
        if not event_ids:
            return {}
        async with self.transaction() as session:
            found = await session.execute(
                select(col(EventRecord.event_id), col(EventRecord.position)).where(
                    col(EventRecord.event_id).in_(list(event_ids))
                )
            )
            return {event_id: int(position or 0) for event_id, position in found.tuples()}

    async def subjects_with(self, event_type: str) -> list[str]:
        """The subjects (patient ids) that have at least one event of `event_type`."""
        async with self.transaction() as session:
            found = await session.scalars(
                select(col(EventRecord.subject))
                .distinct()
                .where(col(EventRecord.event_type) == event_type)
            )
            return list(found)

    async def _last(self, stream_id: str, session: AsyncSession) -> "RecordedEvent | None":
        result = await session.execute(
            select_recorded()
            .where(col(EventRecord.stream_id) == stream_id)
            .order_by(col(EventRecord.sequence).desc())
            .limit(1)
        )
        row = result.first()
        return RecordedEvent.from_record(row) if row else None

    async def version(self, stream_id: str, *, session: AsyncSession | None = None) -> int:
        """The sequence of the stream's last event; 0 for a stream with no events."""
        async with self._within(session) as tx:
            current = await tx.scalar(
                select(func.max(col(EventRecord.sequence))).where(
                    col(EventRecord.stream_id) == stream_id
                )
            )
            return int(current or 0)

    async def load(
        self, stream_id: str, *, session: AsyncSession | None = None
    ) -> list[RecordedEvent]:
        """Every event of a stream, in order; empty for an unknown stream."""
        async with self._within(session) as tx:
            result = await tx.execute(
                select_recorded()
                .where(col(EventRecord.stream_id) == stream_id)
                .order_by(col(EventRecord.sequence))
            )
            return await self._opened([RecordedEvent.from_record(row) for row in result], tx)

    async def load_many(
        self, stream_ids: Sequence[str], session: AsyncSession
    ) -> dict[str, list[RecordedEvent]]:
        """Every event of each stream, in order, in one query (empty lists for unknown ones)."""
        histories: dict[str, list[RecordedEvent]] = {stream_id: [] for stream_id in stream_ids}
        result = await session.execute(
            select_recorded()
            .where(col(EventRecord.stream_id).in_(list(histories)))
            .order_by(col(EventRecord.stream_id), col(EventRecord.sequence))
        )
        recorded = await self._opened([RecordedEvent.from_record(row) for row in result], session)
        for event in recorded:
            histories[event.stream_id].append(event)
        return histories


def _dated(event: DomainEvent, default: datetime) -> dict[str, Any]:
    """The stored payload of `event`: every event says when it happened clinically."""
    payload = event.model_dump(mode="json")
    if payload.get("occurred_at") is None:
        payload["occurred_at"] = default.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return payload
