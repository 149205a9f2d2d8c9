"""A consumer's new generation (a projection rebuilding from offset 0) does not dead-letter again
what an earlier generation set aside: the shared dead-letter topic and its alert count each bad
record once. On SQLite, with the broker's publish recorded rather than sent."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from carepath.chassis.consumer import Delivery, EventConsumer
from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.dead_letters import REDRIVE_HEADER
from carepath.contracts.topics import SUBSCRIPTIONS

TOPIC = SUBSCRIPTIONS["dashboard"][0]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'dashboard.db'}")
    await create_tables(engine)
    yield engine
    await engine.dispose()


class Published(list[str]):
    """The dead-letter topics the consumer published to."""

    async def publish(self, _value: Any, *, topic: str, **_: Any) -> None:
        self.append(topic)


async def nothing(*_: Any) -> None:
    raise AssertionError("no record here is an event to apply")


def dashboard(engine: AsyncEngine, generation: str | None) -> tuple[EventConsumer, Published]:
    broker, published = KafkaBroker("127.0.0.1:9"), Published()  # never started
    consumer = EventConsumer(
        engine, broker, "dashboard", TOPIC, nothing, check_provenance=False, generation=generation
    )
    broker.publish = published.publish  # type: ignore[method-assign]
    return consumer, published


def unreadable(offset: int, headers: list[tuple[str, bytes]] | None = None) -> Delivery:
    record = ConsumerRecord(
        TOPIC.name, 0, offset, 0, 0, None, b"not an event", None, 0, 12, headers or []
    )
    return Delivery.of(record)


async def test_a_new_generation_passes_over_what_an_earlier_one_dead_lettered(
    engine: AsyncEngine,
) -> None:
    first, to_first = dashboard(engine, None)
    await first._apply_batch([unreadable(7)])
    assert to_first == [first.dead_letter_topic.name]

    for generation in ("v2", "v3"):  # v3 rebuilds after v2 did
        again, to_again = dashboard(engine, generation)
        await again._apply_batch([unreadable(7)])
        await again._apply_batch([unreadable(7)])  # a redelivery, after a rebalance
        assert to_again == []
        assert (again.dead_lettered_total, again.known_dead_letters_total) == (0, 1)


async def test_a_new_generation_dead_letters_what_no_generation_set_aside(
    engine: AsyncEngine,
) -> None:
    first, _ = dashboard(engine, None)
    await first._apply_batch([unreadable(7)])
    second, to_second = dashboard(engine, "v2")
    await second._apply_batch([unreadable(8)])
    assert to_second == [second.dead_letter_topic.name]
    assert (second.dead_lettered_total, second.known_dead_letters_total) == (1, 0)


async def test_a_redrive_that_fails_again_is_dead_lettered_again(engine: AsyncEngine) -> None:
    first, _ = dashboard(engine, None)
    await first._apply_batch([unreadable(7)])
    second, to_second = dashboard(engine, "v2")
    await second._apply_batch([unreadable(7, [(REDRIVE_HEADER, b"dashboard")])])
    assert to_second == [second.dead_letter_topic.name]
