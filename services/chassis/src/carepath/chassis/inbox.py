"""The inbox: a consumer applies each event once, however often Kafka delivers it.

The relay may publish an event twice (a crash between publishing and marking it), and Kafka
redelivers after a consumer crash. A consumer therefore records the ids of the events it has
applied in the same database transaction as the effects; a redelivered id is skipped. Only after
that transaction commits does the consumer commit its Kafka offset.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Column, DateTime, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.chassis.database import session_factory
from carepath.contracts import CloudEvent

Effect = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
BatchEffect = Callable[[AsyncSession, Sequence[CloudEvent]], Awaitable[None]]


class InboxRecord(SQLModel, table=True):
    """An event id a consumer has applied."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: UUID = Field(primary_key=True)
    event_type: str = Field(max_length=200)
    applied_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Inbox:
    """Applies events for one named consumer, exactly once per event id."""

    def __init__(self, engine: AsyncEngine, consumer: str) -> None:
        self.consumer = consumer
        self._sessions = session_factory(engine)

    async def apply(self, events: Sequence[CloudEvent], effect: Effect) -> list[CloudEvent]:
        """Run `effect` for each event not applied before, all in one transaction.

        Returns the events that were applied now (the others were duplicates). If `effect`
        raises, nothing of the batch is kept and the error propagates.
        """

        async def each(session: AsyncSession, fresh: Sequence[CloudEvent]) -> None:
            for event in fresh:
                await effect(session, event)

        return await self.apply_batch(events, each)

    async def apply_batch(
        self, events: Sequence[CloudEvent], effect: BatchEffect
    ) -> list[CloudEvent]:
        """Run `effect` once on the events not applied before (in their order), in one
        transaction with one inbox write: for projections that apply a batch set-based."""
        fresh = _first_of_each_id(events)
        async with self._sessions() as session, session.begin():
            seen = await self._already_applied(session, [event.id for event in fresh])
            fresh = [event for event in fresh if event.id not in seen]
            if fresh:
                await effect(session, fresh)
                now = datetime.now(UTC)
                await session.execute(
                    insert(InboxRecord),
                    [
                        {
                            "consumer": self.consumer,
                            "event_id": e.id,
                            "event_type": e.type,
                            "applied_at": now,
                        }
                        for e in fresh
                    ],
                )
        return fresh

    async def _already_applied(self, session: AsyncSession, ids: list[UUID]) -> set[UUID]:
        if not ids:
            return set()
        result = await session.execute(
            select(col(InboxRecord.event_id)).where(
                col(InboxRecord.consumer) == self.consumer,
                col(InboxRecord.event_id).in_(ids),
            )
        )
        return set(result.scalars())


def _first_of_each_id(events: Sequence[CloudEvent]) -> list[CloudEvent]:
    # A batch can itself hold the same event twice (republished by the relay).
    unique: dict[UUID, CloudEvent] = {}
    for event in events:
        unique.setdefault(event.id, event)
    return list(unique.values())
