"""What a consumer has dead-lettered, so that a redelivery is not dead-lettered twice.

Kafka delivers at least once: the relay republishes after a crash, a consumer rereads after a
rebalance. A record the consumer has already sent to its dead-letter topic is skipped when it
comes again, unless an operator redrives it (`carepath-dlq replay`) after a fix: then it is tried
once more, and on success the dead letter is marked resolved.

A consumer's generations (a new version of a projection, reading every topic from offset 0 beside
the old one: `<consumer>.<generation>`) each keep a memory of their own, and share the
consumer's dead-letter topics: a record an earlier generation set aside is not set aside there
again when a later one fails on it too (`DeadLetters.set_aside_by_a_generation`).
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, col

from carepath.chassis.database import session_factory

REDRIVE_HEADER = "carepath-redrive-for"
"""Header of a record an operator sent back to its topic: the one consumer it is meant for."""


def record_key(event_id: object, value: bytes | None) -> str:
    """What identifies an event's record across redeliveries: its id and a digest of the record,
    so that a forged record under a real event's id is not mistaken for that event."""
    return f"{event_id}:{hashlib.sha256(value or b'').hexdigest()[:16]}"


class DeadLetterRecord(SQLModel, table=True):
    """One record a consumer set aside: where it came from and why (never its content)."""

    __tablename__ = "dead_letter"

    consumer: str = Field(primary_key=True, max_length=100)
    record_key: str = Field(
        primary_key=True,
        max_length=300,
        description="The event id and a digest of the record (a forged copy under a real id is "
        "another record); for a record that is not an event, topic/partition/offset.",
    )
    event_type: str | None = Field(default=None, max_length=200)
    source_topic: str = Field(max_length=250)
    source_partition: int
    source_offset: int = Field(sa_column=Column(BigInteger, nullable=False))  # Kafka's are int64
    error_class: str = Field(max_length=200)
    attempts: int
    dead_lettered_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class DeadLetters:
    """One consumer's memory of its dead letters."""

    def __init__(self, engine: AsyncEngine, consumer: str) -> None:
        self.consumer = consumer
        self._sessions = session_factory(engine)

    async def unresolved(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` this consumer has dead-lettered and not resolved since."""
        if not keys:
            return set()
        async with self._sessions() as session:
            found = await session.scalars(
                select(col(DeadLetterRecord.record_key)).where(
                    col(DeadLetterRecord.consumer) == self.consumer,
                    col(DeadLetterRecord.record_key).in_(list(keys)),
                    col(DeadLetterRecord.resolved_at).is_(None),
                )
            )
            return set(found)

    async def set_aside_by_a_generation(self, consumer: str, letter: DeadLetterRecord) -> bool:
        """Whether any generation of `consumer` (its own memory, or a `<consumer>.<generation>`
        one) set `letter`'s record aside before, resolved since or not: the same record (its
        key), or whatever was at the same place of the same topic."""
        same_consumer = or_(
            col(DeadLetterRecord.consumer) == consumer,
            col(DeadLetterRecord.consumer).startswith(f"{consumer}.", autoescape=True),
        )
        same_record = or_(
            col(DeadLetterRecord.record_key) == letter.record_key,
            and_(
                col(DeadLetterRecord.source_topic) == letter.source_topic,
                col(DeadLetterRecord.source_partition) == letter.source_partition,
                col(DeadLetterRecord.source_offset) == letter.source_offset,
            ),
        )
        async with self._sessions() as session:
            found = await session.scalar(select(exists().where(same_consumer, same_record)))
            return bool(found)

    async def remember(self, letter: DeadLetterRecord) -> None:
        """Record (or record again, after a failed redrive) that `letter` was dead-lettered."""
        async with self._sessions() as session, session.begin():
            await session.merge(letter)

    async def resolve(self, keys: Sequence[str]) -> None:
        """Mark dead letters resolved: a redrive applied them."""
        if not keys:
            return
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(DeadLetterRecord)
                .where(
                    col(DeadLetterRecord.consumer) == self.consumer,
                    col(DeadLetterRecord.record_key).in_(list(keys)),
                )
                .values(resolved_at=datetime.now(UTC))
            )
