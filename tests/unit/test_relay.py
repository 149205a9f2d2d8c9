"""The outbox relay's bookkeeping, against a fake broker (the real broker: tests/with_broker)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.relay import OutboxRelay
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts import PatientReferred

METADATA = EventMetadata(source="/carepath/intake", actor="clinician:u1", correlation_id="c1")


class FakeBroker:
    """Records what would be sent; `fail_on` makes the acknowledgement of that send fail."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []
        self.fail_on = fail_on
        self.something_sent = asyncio.Event()

    async def publish(
        self, value: bytes, *, topic: str, key: bytes, headers: dict[str, str], **_: Any
    ) -> "asyncio.Future[None]":
        self.sent.append((topic, key, headers))
        self.something_sent.set()
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_on == len(self.sent):
            ack.set_exception(ConnectionError("broker went away"))
        else:
            ack.set_result(None)
        return ack


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    await create_tables(engine)
    yield EventStore(engine)
    await engine.dispose()


async def refer(store: EventStore, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        patient = uuid4()
        event = PatientReferred(
            patient_id=patient,
            given_name="A",
            family_name="B",
            date_of_birth=date(1990, 1, 1),
            referral_reason="anxiety",
            referrer="R",
        )
        await store.append(f"intake-{patient}", 0, [event], subject=str(patient), metadata=METADATA)
        ids.append(str(patient))
    return ids


async def test_events_go_to_their_topic_in_position_order_keyed_by_patient(
    store: EventStore,
) -> None:
    patients = await refer(store, 5)
    broker = FakeBroker()

    assert await OutboxRelay(store, broker, batch_size=2).drain() == 5  # type: ignore[arg-type]

    assert [key.decode() for _, key, _ in broker.sent] == patients
    assert {topic for topic, _, _ in broker.sent} == {"carepath.intake.events"}
    assert all(
        headers["ce_type"] == "carepath.intake.PatientReferred.v1" for _, _, headers in broker.sent
    )
    assert await store.count_unpublished() == 0


async def test_a_failed_acknowledgement_marks_nothing_of_its_batch(store: EventStore) -> None:
    await refer(store, 3)

    with pytest.raises(ConnectionError):
        await OutboxRelay(store, FakeBroker(fail_on=2)).publish_pending()  # type: ignore[arg-type]

    assert await store.count_unpublished() == 3


async def test_run_publishes_what_is_appended_after_a_wake(store: EventStore) -> None:
    broker = FakeBroker()
    relay = OutboxRelay(store, broker, poll_seconds=30)  # type: ignore[arg-type]
    task = asyncio.create_task(relay.run())
    try:
        await refer(store, 1)
        relay.wake()
        await asyncio.wait_for(broker.something_sent.wait(), timeout=5)
        assert len(broker.sent) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
