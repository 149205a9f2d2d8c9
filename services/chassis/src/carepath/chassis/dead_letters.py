"""What a consumer has dead-lettered, so that a redelivery is not dead-lettered twice.

Kafka delivers at least once: the relay republishes after a crash, a consumer rereads after a
rebalance. A record the consumer has already sent to its dead-letter topic is skipped when it
comes again, unless an operator redrives it (`carepath-dlq replay`) after a fix: then it is tried
once more, and on success the dead letter is marked resolved.
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, select, update
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
