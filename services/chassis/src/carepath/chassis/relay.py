"""The outbox relay: publishes the event store's unpublished events to Kafka, in order.

It has its own aiokafka producer (idempotent, `acks=all`, lingering so that records of a
partition travel together): FastStream's per-message publish costs more than the send itself, and
its batch publish puts a whole batch on one partition, which would break the per-patient order.
It sends a whole batch without waiting for each acknowledgement (the idempotent producer keeps
each partition's order), then waits for all of them and marks the acknowledged ones published,
even when some others failed. A crash after sending and before marking republishes those events
on restart; the consumers' inboxes drop the duplicates, and the auditors' `verify` counts them as
redeliveries.

Failures are classified (`carepath.chassis.faults`): while Kafka is away the relay waits with an
exponential backoff (capped) and tries again; an event that cannot be published at all is parked
(`carepath.chassis.outbox`) and reported, and every other stream flows. It wakes at once when the
service appends (`wake`) and polls as a fallback. After a failed send the producer is stopped
and made anew (one in a fatal state would fail every send after it). `stop` lets the batch in
flight finish and be marked, and publishes what is left, before the service exits.
"""

import asyncio
import functools
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol

from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from opentelemetry import trace

from carepath.chassis import metrics
from carepath.chassis.faults import describe
from carepath.chassis.outbox import Outbox
from carepath.chassis.store import EventStore, RecordedEvent
from carepath.chassis.telemetry import span_context_of, span_without_data
from carepath.contracts import registry

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

TopicResolver = Callable[[str], str]


class RecordProducer(Protocol):
    """What the relay needs of a Kafka producer (aiokafka's `AIOKafkaProducer`)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self, topic: str, value: bytes, key: bytes, *, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        """Queue a record; returns its acknowledgement (a future)."""
        ...


class Unpublishable(Exception):
    """A stored event that cannot be made into a Kafka record (a type no topic is registered
    for, metadata that does not make a CloudEvent)."""


def cannot_be_published(error: BaseException) -> bool:
    """True when the event itself is at fault: it can never be published as it is (it is parked).
    Anything else (a broker away, a producer's state, an authorisation) is the relay's to wait
    out, with backoff, not a reason to set events aside."""
    return isinstance(error, Unpublishable | MessageSizeTooLargeError | RecordTooLargeError)


@functools.cache
def topic_from_registry(event_type: str) -> str:
    """The topic of an event type, from the contracts' type registry."""
    return registry.model_for(event_type).topic().name


class OutboxRelay:
    """Moves events from the store to Kafka. Run one per service (see `run`)."""

    PRODUCER_STOP_SECONDS = 5.0  # the most a failed producer is given to stop

    def __init__(
        self,
        store: EventStore,
        producer: Callable[[], RecordProducer],
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
        max_backoff_seconds: float = 5.0,
        topic_of: TopicResolver = topic_from_registry,
    ) -> None:
        self.outbox = Outbox(store.engine)
        self.new_producer = producer
        self._producer: RecordProducer | None = None
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.topic_of = topic_of
        self._wakeup = asyncio.Event()
        self._stopping = False
        self.publishing = False  # holds the publishing lease (a standby replica does not)
        self.published_total = 0
        self.parked_total = 0
        self.failures_in_a_row = 0

    def wake(self) -> None:
        """Tell the relay that new events were appended."""
        self._wakeup.set()

    def stop(self) -> None:
        """Ask `run` to finish: it publishes what is pending once more, then returns."""
        self._stopping = True
        self._wakeup.set()

    async def connect(self) -> RecordProducer:
        """The started producer (made and started on first use, and again after a failed
        start)."""
        if self._producer is None:
            producer = self.new_producer()
            try:
                await producer.start()
            except BaseException:
                with suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        """Stop the producer (what it still holds is sent first)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _discard_producer(self) -> None:
        """Stop and forget the producer after a failed send, so that the next try makes a new
        one. A broker away needs no new producer, but one in a fatal state (its sender task
        died; fenced, or its producer id unknown to the broker) would fail every later send,
        and from outside the two look alike. It is safe: every send of the batch has been
        answered, and the unacknowledged events are still unpublished, so the new producer
        (a new idempotent producer id) sends them again in position order."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:  # bounded: a producer in a bad state may not stop cleanly
            await asyncio.wait_for(producer.stop(), self.PRODUCER_STOP_SECONDS)
        except Exception as error:
            log.debug("the failed producer did not stop cleanly (%s)", type(error).__name__)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events; returns how many it dealt with (published
        or parked). Raises a transient error after marking what was acknowledged."""
        batch = await self.outbox.unpublished(self.batch_size)
        if not batch:
            return 0
        producer = await self.connect()
        # One producer span per batch, linked to the request that caused each event
        # (OpenTelemetry's messaging conventions for batch senders); the consumers continue
        # each event's own trace from its `traceparent`.
        with span_without_data(
            tracer,
            "relay send",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.batch.message_count": len(batch),
            },
        ) as span:
            acknowledged, parked, outage = await self._send(producer, batch, span)
        await self.outbox.mark_published([event.position for event in acknowledged])
        self.published_total += len(acknowledged)
        self._count_sent(acknowledged)
        if outage is not None:
            await self._discard_producer()
            raise outage
        return len(acknowledged) + parked

    async def drain(self) -> int:
        """Publish until nothing is left; returns how many were published or parked."""
        total = 0
        while handled := await self.publish_pending():
            total += handled
        return total

    async def run(self) -> None:
        """Publish until stopped: batches back to back while there is a backlog, else wait.

        Runs only while this process holds the outbox's publishing lease, so that of several
        replicas (or processes on one SQLite file) one publishes and the others stand by.
        """
        while not self._stopping:
            try:
                async with self.outbox.publishing_lease(self.poll_seconds) as lease:
                    self.publishing = True
                    while True:
                        await lease.confirm()
                        handled = await self.publish_pending()
                        self.failures_in_a_row = 0
                        if self._stopping:
                            await self.drain()  # what was appended while the last batch went
                            return
                        if handled < self.batch_size:
                            await self._wait(self.poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.publishing = False
                # Kafka or the database is away: the events stay in the store; try again later.
                self.failures_in_a_row += 1
                metrics.relay_errors.add(1, {"error.type": describe(error).error_class})
                delay = self.backoff()
                log.warning(
                    "outbox relay could not publish (%s); trying again in %.1fs",
                    describe(error),
                    delay,
                )
                if not self._stopping:
                    await self._wait(delay)

    def _count_sent(self, acknowledged: list[RecordedEvent]) -> None:
        for topic, sent in Counter(self.topic_of(e.event_type) for e in acknowledged).items():
            attributes = {"messaging.system": "kafka", "messaging.destination.name": topic}
            metrics.sent_messages.add(sent, attributes)

    def backoff(self) -> float:
        """The wait after `failures_in_a_row` failures: doubling from the poll interval up to
        the cap, with jitter so that replicas do not retry in step."""
        ceiling = min(self.max_backoff_seconds, self.poll_seconds * 2.0**self.failures_in_a_row)
        return ceiling * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not a secret)

    async def _wait(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    async def _send(
        self, producer: RecordProducer, batch: list[RecordedEvent], span: trace.Span
    ) -> tuple[list[RecordedEvent], int, Exception | None]:
        """Send `batch`; returns the events to mark published, how many were parked, and the
        outage that stopped it (None: none).

        Of each stream, only the acknowledged events before its first failure are marked: a
        later one that got through is sent again after the failed one, so that the stream's
        order on the topic holds for whoever reads it from there on.
        """
        failed: set[str] = set()  # streams with an event parked or not sent: the rest wait
        parked = 0
        sent: list[tuple[RecordedEvent, Awaitable[Any]]] = []
        outage: Exception | None = None
        for recorded in batch:
            if recorded.stream_id in failed:
                continue
            try:
                sent.append((recorded, await self._publish(producer, recorded, span)))
            except Exception as error:
                if not cannot_be_published(error):
                    outage = error
                    break
                await self._park(recorded, error)
                failed.add(recorded.stream_id)
                parked += 1
        results = await asyncio.gather(*(ack for _, ack in sent), return_exceptions=True)
        acknowledged = []
        for (recorded, _), result in zip(sent, results, strict=True):
            if recorded.stream_id in failed:
                continue
            if not isinstance(result, BaseException):
                acknowledged.append(recorded)
                continue
            failed.add(recorded.stream_id)
            if isinstance(result, Exception) and cannot_be_published(result):
                await self._park(recorded, result)
                parked += 1
            elif outage is None:
                outage = result if isinstance(result, Exception) else RuntimeError(str(result))
        return acknowledged, parked, outage

    async def _publish(
        self, producer: RecordProducer, recorded: RecordedEvent, span: trace.Span
    ) -> Awaitable[Any]:
        try:
            cloud_event = recorded.to_cloud_event()
            value, topic = cloud_event.to_json(), self.topic_of(recorded.event_type)
        except Exception as error:
            raise Unpublishable(f"cannot be put on the wire: {describe(error)}") from error
        if span.is_recording() and (cause := span_context_of(cloud_event)):
            span.add_link(cause)
        headers = [(name, value.encode()) for name, value in cloud_event.kafka_headers().items()]
        return await producer.send(topic, value, cloud_event.kafka_key(), headers=headers)

    async def _park(self, recorded: RecordedEvent, error: Exception) -> None:
        why = describe(error)
        log.error(
            "outbox relay parked event %s (%s, position %d) of stream %s: %s; the stream's later "
            "events wait behind it until the service restarts",
            recorded.event_id,
            recorded.event_type,
            recorded.position,
            recorded.stream_id,
            why,
        )
        await self.outbox.park(recorded, str(why))
        self.parked_total += 1
        metrics.relay_errors.add(1, {"error.type": why.error_class})
