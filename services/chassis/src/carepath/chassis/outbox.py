"""The outbox: the event store's rows as the relay sees them.

Every stored event starts unpublished. The relay takes the oldest ones in position order,
publishes them, and marks them. An event that cannot be published at all (too large for the
broker, a type no topic is registered for) is *parked*: set aside and reported, with the later
events of its stream held behind it so that no later event of the stream overtakes it, while
every other stream flows. Parked events are tried again when the service starts.

Only one relay per database may publish, or two processes would interleave a stream's events:
`publishing_lease` grants that right to one process at a time.
"""

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from sqlalchemy import Column, DateTime, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import Field, SQLModel, col

from carepath.chassis.database import session_factory
from carepath.chassis.store import EventRecord, RecordedEvent, select_recorded

RELAY_LOCK_KEY = 0x0CA2E9A7  # advisory-lock id of the outbox relay lease (PostgreSQL)


class ParkedEvent(SQLModel, table=True):
    """An event the relay could not publish, and why (its class and a description, no data)."""

    __tablename__ = "outbox_parked"

    position: int = Field(primary_key=True)
    stream_id: str = Field(max_length=200, index=True)
    event_id: UUID
    event_type: str = Field(max_length=200)
    reason: str = Field(max_length=600)
    parked_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class PublishingLease:
    """The right to publish, held on its own database connection (see `publishing_lease`)."""

    def __init__(self, connection: AsyncConnection | None) -> None:
        self._connection = connection

    async def confirm(self) -> None:
        """Raise if the connection that holds the lock is gone (the lock went with it)."""
        if self._connection is not None:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()


class Outbox:
    """What waits for the relay in one service's event store."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    async def unpublished(self, limit: int) -> list[RecordedEvent]:
        """The oldest events not yet published, in position order, but for parked streams."""
        parked_streams = select(col(ParkedEvent.stream_id))
        async with self._sessions() as session:
            result = await session.execute(
                select_recorded()
                .where(
                    col(EventRecord.published_at).is_(None),
                    col(EventRecord.stream_id).not_in(parked_streams),
                )
                .order_by(col(EventRecord.position))
                .limit(limit)
            )
            return [RecordedEvent.from_record(row) for row in result]

    async def mark_published(self, positions: Sequence[int]) -> None:
        """Record that the events at `positions` reached Kafka."""
        if not positions:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(EventRecord)
                .where(col(EventRecord.position).in_(list(positions)))
                .values(published_at=datetime.now(UTC))
            )

    async def count_unpublished(self) -> int:
        """How many events wait for the relay (the outbox backlog, parked ones included)."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(EventRecord)
                .where(col(EventRecord.published_at).is_(None))
            )
            return int(count or 0)

    async def backlog(self) -> tuple[int, datetime | None]:
        """How many events wait for the relay, and when the oldest of them was stored (None
        when none waits), read together: what `unpublished` would hand it. Parked events, and
        the later events of their streams held behind them, are not waiting for the relay but
        for a restart; they are counted apart (`count_parked`), so that a parked event does not
        look like a stalled relay."""
        parked_streams = select(col(ParkedEvent.stream_id))
        async with self._sessions() as session:
            waiting, oldest = (
                await session.execute(
                    select(func.count(), func.min(col(EventRecord.recorded_at))).where(
                        col(EventRecord.published_at).is_(None),
                        col(EventRecord.stream_id).not_in(parked_streams),
                    )
                )
            ).one()
        if oldest is not None and oldest.tzinfo is None:  # SQLite keeps no zone; we write UTC
            oldest = oldest.replace(tzinfo=UTC)
        return int(waiting), oldest

    async def park(self, event: RecordedEvent, reason: str) -> None:
        """Set `event` (and so the rest of its stream) aside until the service starts again."""
        async with self._sessions() as session, session.begin():
            await session.merge(
                ParkedEvent(
                    position=event.position,
                    stream_id=event.stream_id,
                    event_id=event.event_id,
                    event_type=event.event_type,
                    reason=reason[:600],
                    parked_at=datetime.now(UTC),
                )
            )

    async def count_parked(self) -> int:
        """How many events are parked."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ParkedEvent)) or 0)

    async def parked(self) -> list[ParkedEvent]:
        """The parked events, oldest first."""
        async with self._sessions() as session:
            found = await session.scalars(select(ParkedEvent).order_by(col(ParkedEvent.position)))
            return list(found)

    async def release_parked(self) -> int:
        """Let the relay try every parked event again; returns how many there were."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(delete(ParkedEvent))
            return int(getattr(result, "rowcount", 0) or 0)

    @asynccontextmanager
    async def publishing_lease(self, retry_s: float = 1.0) -> AsyncIterator[PublishingLease]:
        """Wait until this process may publish, and hold that right until the block exits.

        On PostgreSQL the lease is a session advisory lock, released by the server if this
        process dies. On SQLite it is an exclusive `flock` on a file beside the database,
        released by the kernel if this process dies.
        """
        if self.engine.dialect.name == "postgresql":
            async with self._advisory_lock(retry_s) as lease:
                yield lease
        else:
            async with self._file_lock(retry_s):
                yield PublishingLease(None)

    @asynccontextmanager
    async def _advisory_lock(self, retry_s: float) -> AsyncIterator[PublishingLease]:
        async with self.engine.connect() as connection:
            while not await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": RELAY_LOCK_KEY}
            ):
                await connection.commit()
                await asyncio.sleep(retry_s)
            await connection.commit()
            try:
                yield PublishingLease(connection)
            finally:
                with suppress(Exception):
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": RELAY_LOCK_KEY}
                    )
                    await connection.commit()

    @asynccontextmanager
    async def _file_lock(self, retry_s: float) -> AsyncIterator[None]:
        database = self.engine.url.database
        if not database or database == ":memory:":  # private to this process
            yield
            return
        # The standard library's flock, not a lock library: ten lines, no dependency, and the
        # kernel releases it when the process dies (kill -9 included).
        descriptor = os.open(Path(f"{database}.relay-lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(retry_s)
            yield
        finally:
            os.close(descriptor)  # closing the file releases the lock
