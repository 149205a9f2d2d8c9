"""Event consumers (policies and projections): inbox, dead letters, trace continuation.

A consumer reads its topics in batches, as one Kafka consumer in its group. The batch's effects
and event ids commit in one database transaction (the inbox), then the Kafka offsets are
committed. When the batch fails, the failure is classified (`carepath.chassis.faults`):
- transient (the database or a broker away): no record is at fault, so the consumer pauses with
  a growing backoff and the batch is read again; nothing is dead-lettered;
- anything else: the records are applied one by one, so that only the culprit fails. A record
  that keeps failing is retried `attempts` times with backoff (a schema error or a clinical rule
  that refuses it: at once), then goes to the consumer's dead-letter topic
  `<topic>.dlq.<consumer>` with its origin and a description of the error free of patient data,
  and the partition moves on. The consumer remembers what it dead-lettered
  (`carepath.chassis.dead_letters`), so a redelivery is not dead-lettered twice; nor is a record
  one of its generations set aside before, when a new generation fails on it again.

Before a record is applied, its provenance is checked (`carepath.chassis.evidence.Provenance`):
signed by a key of the service in its `source`, a service that may produce that type on that
topic. A record that fails is dead-lettered at once, never applied: anyone who can write to the
broker could otherwise inject an `EligibilityDetermined` and open a course.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any
from uuid import UUID

from aiokafka import ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carepath.chassis import metrics
from carepath.chassis.dead_letters import REDRIVE_HEADER, DeadLetterRecord, DeadLetters, record_key
from carepath.chassis.errors import RuleViolation
from carepath.chassis.evidence import Provenance, UnverifiedEvent
from carepath.chassis.faults import describe, is_transient
from carepath.chassis.inbox import BatchEffect, Inbox
from carepath.chassis.settings import ServiceSettings
from carepath.chassis.telemetry import continued_trace, span_context_of, span_without_data
from carepath.contracts import CloudEvent, Topic, dlq_topic
from carepath.contracts.events import UnknownEventType

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Effect = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """An effect that takes a whole batch (a projection applying it set-based), where a plain
    `Effect` takes one event at a time."""

    effect: BatchEffect


# Errors that no retry can cure: the record goes to the dead-letter topic at the first failure.
POISON: tuple[type[Exception], ...] = (
    ValidationError,
    UnknownEventType,
    RuleViolation,
    UnverifiedEvent,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing record is tried, and how long a consumer pauses for an outage."""

    attempts: int = 3
    backoff_s: float = 0.2
    max_pause_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        """The wait before try `attempt + 1` of one record."""
        return float(min(self.max_pause_s, self.backoff_s * 2 ** (attempt - 1)))

    def pause(self, outages_in_a_row: int) -> float:
        """The pause before a batch is read again after a transient failure."""
        return float(min(self.max_pause_s, 0.5 * 2 ** (outages_in_a_row - 1)))


@dataclass(frozen=True)
class Delivery:
    """One record as delivered: the event it carries, or why it carries none."""

    record: ConsumerRecord[Any, Any]
    event: CloudEvent | None
    problem: Exception | None = None

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any]) -> "Delivery":
        """The record, parsed as a CloudEvent if it is one."""
        try:
            return cls(record, CloudEvent.from_json(record.value))
        except ValidationError as error:  # not JSON, or not a CloudEvent
            return cls(record, None, error)

    @property
    def key(self) -> str:
        """What identifies it across redeliveries: the event id and a digest of the record (so
        that a forged record under a real event's id is not mistaken for it), else where it was
        read."""
        if self.event is not None:
            return record_key(self.event.id, self.record.value)
        return f"{self.record.topic}/{self.record.partition}/{self.record.offset}"

    def headers(self) -> dict[str, str]:
        """The record's headers, decoded."""
        return {name: value.decode(errors="replace") for name, value in self.record.headers or ()}

    def redriven_for(self, consumer: str) -> bool:
        """True when an operator sent it back for `consumer` to try again."""
        return self.headers().get(REDRIVE_HEADER) == consumer


class EventConsumer:
    """One named consumer of one or more topics (its Kafka consumer group is `carepath.<name>`).

    A `generation` reads the same topics afresh beside the consumer's other generations (a new
    version of a projection, building its read models from offset 0 while the old one serves):
    its Kafka group is `carepath.<name>.<generation>`, its inbox and dead-letter memory are kept
    under `<name>.<generation>`; its dead-letter topics and redrives stay the consumer's. A
    record another generation set aside already, and that this one fails on too, is not
    dead-lettered twice: it is counted in `known_dead_letters_total` and passed over."""

    def __init__(
        self,
        engine: AsyncEngine,
        broker: KafkaBroker,
        name: str,
        topics: Topic | Sequence[Topic],
        effect: Effect | Batched,
        *,
        max_records: int = 500,
        retry: RetryPolicy = RetryPolicy(),
        on_applied: Callable[[], None] | None = None,
        keys_dir: Path | None = None,
        check_provenance: bool = True,
        generation: str | None = None,
    ) -> None:
        """`keys_dir` holds the producing services' public keys (unset: the service settings'
        `CAREPATH_KEYS_DIR`). `check_provenance=False` applies unsigned records: only for tests
        of the consumer's own mechanics, never in a service."""
        self.name = name
        self.generation = generation
        scope = f"{name}.{generation}" if generation else name  # what it has applied, its own
        self.group = f"carepath.{scope}"
        self._attributes = {
            "messaging.system": "kafka",
            "messaging.consumer.group.name": self.group,
        }
        self.topics = (topics,) if isinstance(topics, Topic) else tuple(topics)
        self._dlq_topics = {topic.name: dlq_topic(topic, name) for topic in self.topics}
        self.inbox = Inbox(engine, scope)
        self.dead_letters = DeadLetters(engine, scope)
        self.broker = broker
        self.retry = retry
        self._apply_events: BatchEffect
        if isinstance(effect, Batched):
            self._apply_events = self._traced(effect.effect)
        else:
            self._effect = effect
            self._apply_events = self._each
        self._on_applied = on_applied
        self.provenance = (
            Provenance(keys_dir or ServiceSettings(service_name=name).keys_dir)
            if check_provenance
            else None
        )
        self._outages_in_a_row = 0
        self.applied_total = 0
        self.dead_lettered_total = 0
        self.known_dead_letters_total = 0  # failed again in this generation, set aside before
        self.retried_total = 0
        self._records: dict[UUID, ConsumerRecord[Any, Any]] = {}
        self.subscriber = broker.subscriber(
            *(topic.name for topic in self.topics),
            group_id=self.group,
            batch=True,
            max_records=max_records,
            # How long a poll waits for records; FastStream then sleeps as long when there were
            # none, so a record that comes in meanwhile waits up to twice this (default 200 ms).
            batch_timeout_ms=50,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            # A replica that dies is noticed after 6 s (the broker's minimum), not 10: its
            # partitions move to the survivors sooner.
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
        )
        self.subscriber(self.handle)

    @property
    def dead_letter_topic(self) -> Topic:
        """The dead-letter topic of a single-topic consumer."""
        [topic] = self.topics
        return self._dlq_topics[topic.name]

    def dead_letter_topic_of(self, topic_name: str) -> Topic:
        """Where this consumer puts what it cannot process from `topic_name`."""
        return self._dlq_topics[topic_name]

    async def handle(self, message: KafkaMessage) -> None:
        """Apply one batch of records; on an outage, pause and let the batch be read again."""
        raw = message.raw_message
        records: tuple[ConsumerRecord[Any, Any], ...] = raw if isinstance(raw, tuple) else (raw,)
        try:
            await self._apply_batch([Delivery.of(record) for record in records])
        except Exception as error:
            self._outages_in_a_row += 1
            pause = self.retry.pause(self._outages_in_a_row)
            log.warning(
                "%s could not apply a batch (%s); it will be read again in %.1fs",
                self.name,
                describe(error),
                pause,
            )
            metrics.consumer_errors.add(
                1, {**self._attributes, "error.type": describe(error).error_class}
            )
            await asyncio.sleep(pause)
            raise
        self._outages_in_a_row = 0

    async def _apply_batch(self, deliveries: list[Delivery]) -> None:
        set_aside = await self.dead_letters.unresolved([d.key for d in deliveries])
        events: list[Delivery] = []
        for delivery in deliveries:
            if delivery.key in set_aside and not delivery.redriven_for(self.name):
                continue  # dead-lettered before: this is a redelivery
            if problem := self._unacceptable(delivery):
                await self._dead_letter(delivery, problem, attempts=1)
            else:
                events.append(delivery)
        if not events:
            return
        try:
            await self._apply(events)
        except Exception as error:
            if is_transient(error):
                raise
            # Find the culprit(s): apply one by one, so the others are applied.
            done: set[str] = set()
            for delivery in events:
                if delivery.key not in done:
                    await self._apply_alone(delivery)
                    done.add(delivery.key)

    def _unacceptable(self, delivery: Delivery) -> Exception | None:
        """Why the record must not be applied at all (no retry can cure it), or None."""
        if delivery.event is None:
            return delivery.problem or ValueError()
        if self.provenance is not None:
            try:
                self.provenance.check(delivery.record.topic, delivery.event)
            except UnverifiedEvent as error:
                return error
        return None

    async def _apply_alone(self, delivery: Delivery) -> None:
        for attempt in count(1):
            try:
                await self._apply([delivery])
                return
            except Exception as error:
                if is_transient(error):
                    raise
                if isinstance(error, POISON) or attempt >= self.retry.attempts:
                    await self._dead_letter(delivery, error, attempts=attempt)
                    return
                self.retried_total += 1
                await asyncio.sleep(self.retry.backoff(attempt))

    async def _apply(self, deliveries: list[Delivery]) -> None:
        events = [d.event for d in deliveries if d.event is not None]
        # Where each event was read, for its span (one batch at a time per consumer).
        self._records = {d.event.id: d.record for d in deliveries if d.event is not None}
        applied = await self.inbox.apply_batch(events, self._apply_events)
        await self.dead_letters.resolve([d.key for d in deliveries if d.redriven_for(self.name)])
        self.applied_total += len(applied)
        self._count_consumed(deliveries, {event.id for event in applied})
        if applied and self._on_applied is not None:
            self._on_applied()  # e.g. wake the relay for the events the effects appended

    def _count_consumed(self, deliveries: list[Delivery], applied: set[UUID]) -> None:
        per_topic = Counter(
            d.record.topic for d in deliveries if d.event is not None and d.event.id in applied
        )
        for topic, applied_here in per_topic.items():
            metrics.consumed_messages.add(
                applied_here, {**self._attributes, "messaging.destination.name": topic}
            )

    async def lag(self) -> dict[tuple[str, int, str], int]:
        """Per partition this replica holds now: records on it that its Kafka consumer has not
        fetched yet (the high watermark of its last fetch minus its position). Records fetched
        and not yet applied, at most a batch, are not counted. Empty before it has joined."""
        consumer = self.subscriber.consumer
        if consumer is None:
            return {}
        lag = {}
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            if end is not None:
                position = await consumer.position(partition)
                lag[(partition.topic, partition.partition, self.group)] = max(0, end - position)
        return lag

    def _traced(self, effect: BatchEffect) -> BatchEffect:
        async def traced(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
            # One consumer span per batch, linked to the trace of each request that caused one
            # of its events (OpenTelemetry's messaging conventions for batch receivers).
            with span_without_data(
                tracer,
                f"process {self.group}",
                kind=trace.SpanKind.CONSUMER,
                links=[
                    trace.Link(linked, self._message_attributes(e))
                    for e in events
                    if (linked := span_context_of(e))
                ],
                attributes={
                    **self._attributes,
                    "messaging.operation.type": "process",
                    "messaging.destination.name": ",".join(t.name for t in self.topics),
                    "messaging.batch.message_count": len(events),
                },
            ):
                await effect(session, events)

        return traced

    async def _each(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        for event in events:
            # Continue the trace of the request that caused the event, so one trace spans
            # services (a policy's reaction belongs to the request that caused it).
            with (
                continued_trace(event.traceparent),
                span_without_data(
                    tracer,
                    f"process {self.group}",
                    kind=trace.SpanKind.CONSUMER,
                    attributes={
                        **self._attributes,
                        "messaging.operation.type": "process",
                        **self._message_attributes(event),
                    },
                ),
            ):
                await self._effect(session, event)

    def _message_attributes(self, event: CloudEvent) -> dict[str, str | int]:
        """A message's span attributes: where it was read (its own topic, partition and offset)
        and which event it is (OpenTelemetry's messaging and CloudEvents conventions). No data
        from the event beyond its id, type and source."""
        attributes: dict[str, str | int] = {
            "messaging.message.id": str(event.id),
            "cloudevents.event_id": str(event.id),
            "cloudevents.event_source": event.source,
            "cloudevents.event_type": event.type,
        }
        if (record := self._records.get(event.id)) is not None:
            attributes["messaging.destination.name"] = record.topic
            attributes["messaging.destination.partition.id"] = str(record.partition)
            attributes["messaging.kafka.offset"] = record.offset
        return attributes

    async def _dead_letter(self, delivery: Delivery, error: Exception, *, attempts: int) -> None:
        record, why = delivery.record, describe(error)
        target = self.dead_letter_topic_of(record.topic).name
        now = datetime.now(UTC)
        letter = DeadLetterRecord(
            consumer=self.dead_letters.consumer,  # its generation's memory
            record_key=delivery.key,
            event_type=delivery.event.type[:200] if delivery.event else None,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            error_class=why.error_class,
            attempts=attempts,
            dead_lettered_at=now,
        )
        if (
            self.generation
            and not delivery.redriven_for(self.name)  # an operator's try: its failure is news
            and await self.dead_letters.set_aside_by_a_generation(self.name, letter)
        ):
            # A new generation rereads every bad record from offset 0: its dead-letter topic and
            # alert would count each again. Remembered here, so that a redelivery is passed over.
            log.info(
                "%s: %s at %s[%d]@%d was set aside before: not dead-lettered again",
                self.dead_letters.consumer,
                why.error_class,
                record.topic,
                record.partition,
                record.offset,
            )
            await self.dead_letters.remember(letter)
            self.known_dead_letters_total += 1
            return
        # Only the error's class and a description free of record values reach logs and headers.
        log.warning(
            "%s: %s at %s[%d]@%d after %d attempt(s) goes to %s",
            self.name,
            why,
            record.topic,
            record.partition,
            record.offset,
            attempts,
            target,
        )
        headers = {k: v for k, v in delivery.headers().items() if k != REDRIVE_HEADER}
        headers.update(
            {
                "dlq_consumer": self.name,
                "dlq_error_type": why.error_class,
                "dlq_error": why.message,
                "dlq_attempts": str(attempts),
                "dlq_at": now.isoformat(),
                "dlq_source_topic": record.topic,
                "dlq_source_partition": str(record.partition),
                "dlq_source_offset": str(record.offset),
            }
        )
        try:
            await self.broker.publish(record.value, topic=target, key=record.key, headers=headers)
        except MessageSizeTooLargeError:
            # The record with its dlq_* headers is more than the broker takes: keep where it is.
            headers["dlq_value"] = "dropped: too large; read it at its source location"
            await self.broker.publish(None, topic=target, key=record.key, headers=headers)
        await self.dead_letters.remember(letter)
        self.dead_lettered_total += 1
        metrics.dead_letters.add(
            1,
            {
                **self._attributes,
                "messaging.destination.name": record.topic,
                "error.type": why.error_class,
            },
        )
