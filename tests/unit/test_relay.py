"""The outbox relay's bookkeeping, against a fake broker (the real broker: tests/with_broker)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest
from aiokafka.errors import MessageSizeTooLargeError, ProducerFenced

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.outbox import Outbox
from carepath.chassis.patient_keys import KeyEncryptionKey, PatientKeys
from carepath.chassis.relay import OutboxRelay
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts import PatientReferred

METADATA = EventMetadata(source="/carepath/intake", actor="clinician:u1", correlation_id="c1")


class FakeProducer:
    """Records what would be sent; `fail_on` makes the acknowledgement of that send fail;
    `refuse` makes the producer refuse the events of that key outright (too large)."""

    def __init__(self, fail_on: int | None = None, refuse: bytes | None = None) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []
        self.fail_on = fail_on
        self.refuse = refuse
        self.something_sent = asyncio.Event()
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def send(
        self, topic: str, value: bytes, key: bytes, *, headers: list[tuple[str, bytes]]
    ) -> "asyncio.Future[None]":
        if key == self.refuse:
            raise MessageSizeTooLargeError("the record is larger than the broker accepts")
        self.sent.append((topic, key, {name: raw.decode() for name, raw in headers}))
        self.something_sent.set()
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_on == len(self.sent):
            ack.set_exception(ConnectionError("broker went away"))
        else:
            ack.set_result(None)
        return ack


def producing(producer: FakeProducer) -> Callable[[], FakeProducer]:
    """The relay's producer factory, always the same fake."""
    return lambda: producer


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    await create_tables(engine)
    yield EventStore(engine, keys=PatientKeys(engine, KeyEncryptionKey("test", bytes(32))))
    await engine.dispose()


def outbox(store: EventStore) -> Outbox:
    return Outbox(store.engine)


def referral(patient: object) -> PatientReferred:
    return PatientReferred(
        patient_id=patient,
        given_name="A",
        family_name="B",
        date_of_birth=date(1990, 1, 1),
        referral_reason="anxiety",
        referrer="R",
    )


async def refer(store: EventStore, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        patient = uuid4()
        event = referral(patient)
        await store.append(f"intake-{patient}", 0, [event], subject=str(patient), metadata=METADATA)
        ids.append(str(patient))
    return ids


async def test_events_go_to_their_topic_in_position_order_keyed_by_patient(
    store: EventStore,
) -> None:
    patients = await refer(store, 5)
    producer = FakeProducer()

    assert await OutboxRelay(store, producing(producer), batch_size=2).drain() == 5

    assert [key.decode() for _, key, _ in producer.sent] == patients
    assert {topic for topic, _, _ in producer.sent} == {"carepath.intake.events"}
    assert all(
        headers["carepath_type"] == PatientReferred.event_type() for _, _, headers in producer.sent
    )
    assert await outbox(store).count_unpublished() == 0


async def test_acknowledged_events_are_marked_even_when_another_one_fails(
    store: EventStore,
) -> None:
    await refer(store, 3)

    with pytest.raises(ConnectionError):
        await OutboxRelay(store, producing(FakeProducer(fail_on=2))).publish_pending()

    assert await outbox(store).count_unpublished() == 1  # only the unacknowledged one is sent again


async def test_an_event_that_cannot_be_published_is_parked_and_the_other_streams_flow(
    store: EventStore,
) -> None:
    first, stuck, last = await refer(store, 3)
    await store.append(f"intake-{stuck}", 1, [referral(stuck)], subject=stuck, metadata=METADATA)
    producer = FakeProducer(refuse=stuck.encode())
    relay = OutboxRelay(store, producing(producer), batch_size=2)

    assert await relay.drain() == 3  # two published, one parked

    assert [key.decode() for _, key, _ in producer.sent] == [first, last]
    [parked] = await outbox(store).parked()
    assert parked.stream_id == f"intake-{stuck}"
    assert parked.reason.startswith("MessageSizeTooLargeError")
    assert await outbox(store).count_unpublished() == 2  # the parked one and its stream's next
    assert await outbox(store).unpublished(10) == []  # held behind it, not sent out of order

    # At the next start, parked events are tried again (here the broker takes them).
    assert await outbox(store).release_parked() == 1
    producer.refuse = None
    assert await relay.drain() == 2
    assert [key.decode() for _, key, _ in producer.sent[2:]] == [stuck, stuck]


def test_the_wait_after_failures_grows_to_a_cap(store: EventStore) -> None:
    relay = OutboxRelay(store, producing(FakeProducer()), poll_seconds=0.5, max_backoff_seconds=8)
    waits = []
    for failures in range(1, 10):
        relay.failures_in_a_row = failures
        waits.append(relay.backoff())
    assert 0.5 <= waits[0] <= 1.0
    assert all(wait <= 8 for wait in waits)
    assert waits[-1] >= 4  # jitter keeps it within [cap / 2, cap]


async def test_stop_publishes_what_is_pending_and_returns(store: EventStore) -> None:
    producer = FakeProducer()
    relay = OutboxRelay(store, producing(producer), poll_seconds=30)
    task = asyncio.create_task(relay.run())
    await refer(store, 2)  # appended, but nobody woke the relay

    relay.stop()
    await asyncio.wait_for(task, timeout=5)

    assert len(producer.sent) == 2
    assert await outbox(store).count_unpublished() == 0


async def test_run_publishes_what_is_appended_after_a_wake(store: EventStore) -> None:
    producer = FakeProducer()
    relay = OutboxRelay(store, producing(producer), poll_seconds=30)
    task = asyncio.create_task(relay.run())
    try:
        await refer(store, 1)
        relay.wake()
        await asyncio.wait_for(producer.something_sent.wait(), timeout=5)
        assert len(producer.sent) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_later_event_of_a_stream_is_not_marked_when_an_earlier_one_failed(
    store: EventStore,
) -> None:
    [patient] = await refer(store, 1)
    await store.append(
        f"intake-{patient}", 1, [referral(patient)], subject=patient, metadata=METADATA
    )

    with pytest.raises(ConnectionError):  # the first is not acknowledged, the second is
        await OutboxRelay(store, producing(FakeProducer(fail_on=1))).publish_pending()

    # Both go again, in order: the second may not stand on the topic before the first.
    assert [e.sequence for e in await outbox(store).unpublished(10)] == [1, 2]


async def test_a_producer_that_could_not_connect_is_made_anew_and_nothing_is_lost(
    store: EventStore,
) -> None:
    made: list[FakeProducer] = []

    class Unreachable(FakeProducer):
        async def start(self) -> None:
            raise ConnectionError("no broker at the bootstrap address")

    def new_producer() -> FakeProducer:
        made.append(Unreachable() if not made else FakeProducer())
        return made[-1]

    await refer(store, 3)
    relay = OutboxRelay(store, new_producer)
    with pytest.raises(ConnectionError):
        await relay.publish_pending()
    assert await outbox(store).count_unpublished() == 3  # the events wait in the store

    assert await relay.drain() == 3  # the next try makes a new producer
    assert len(made) == 2 and len(made[1].sent) == 3
    await relay.close()
    assert not made[1].started


async def test_a_producer_left_unusable_by_a_failed_send_is_made_anew_and_nothing_is_lost(
    store: EventStore,
) -> None:
    made: list[FakeProducer] = []

    class Fenced(FakeProducer):
        """A producer in a fatal state after its first failure (aiokafka's sender task died,
        or the broker answered ProducerFenced / UnknownProducerId): every send fails."""

        async def send(
            self, topic: str, value: bytes, key: bytes, *, headers: list[tuple[str, bytes]]
        ) -> "asyncio.Future[None]":
            if self.sent:
                raise ProducerFenced()
            return await super().send(topic, value, key, headers=headers)

    def new_producer() -> FakeProducer:
        made.append(Fenced(fail_on=1) if not made else FakeProducer())
        return made[-1]

    patients = await refer(store, 3)
    relay = OutboxRelay(store, new_producer)
    with pytest.raises((ConnectionError, ProducerFenced)):
        await relay.publish_pending()
    assert await outbox(store).count_unpublished() == 3  # the events wait in the store
    assert not made[0].started  # the failed producer was stopped

    assert await relay.drain() == 3  # the next try makes a new producer
    assert len(made) == 2
    assert [key.decode() for _, key, _ in made[1].sent] == patients  # in position order
    assert await outbox(store).count_unpublished() == 0


async def test_parked_events_and_their_streams_are_not_in_the_relay_s_backlog(
    store: EventStore,
) -> None:
    _, stuck, _ = await refer(store, 3)
    await store.append(f"intake-{stuck}", 1, [referral(stuck)], subject=stuck, metadata=METADATA)
    producer = FakeProducer(refuse=stuck.encode())
    assert await OutboxRelay(store, producing(producer)).drain() == 3  # two sent, one parked

    # What /metrics shows: nothing waits for the relay (no stalled-outbox alert), one is parked.
    assert await outbox(store).backlog() == (0, None)
    assert await outbox(store).count_parked() == 1

    [late] = await refer(store, 1)  # a new event of another stream waits, and only it
    waiting, oldest = await outbox(store).backlog()
    assert waiting == 1 and oldest is not None
    [event] = await outbox(store).unpublished(10)
    assert event.subject == late and oldest == event.recorded_at
