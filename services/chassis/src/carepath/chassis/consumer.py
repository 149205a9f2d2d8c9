"""Event consumers (policies and projections): inbox, dead-letter topic, trace continuation.

A consumer reads its topics in batches, as one Kafka consumer in its group (several consumers
of one service in one group keep rebalancing each other). The batch's effects and event ids
commit in one database transaction (the inbox), then the Kafka offsets are committed. A message
that cannot be processed (not a CloudEvent, an unknown type, a payload that breaks its schema,
a rule that refuses it) goes to the consumer's dead-letter topic `<topic>.dlq.<consumer>` with
the error in headers, and the consumer goes on. Any other error (database away) rewinds the
batch and retries it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carepath.chassis.errors import RuleViolation
from carepath.chassis.inbox import Inbox
from carepath.chassis.telemetry import continued_trace
from carepath.contracts import CloudEvent, Topic, dlq_topic
from carepath.contracts.events import UnknownEventType

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Effect = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

# Errors that no retry can cure: the message goes to the dead-letter topic.
POISON: tuple[type[Exception], ...] = (ValidationError, UnknownEventType, RuleViolation)


class EventConsumer:
    """One named consumer of one or more topics (its Kafka consumer group is `carepath.<name>`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        broker: KafkaBroker,
        name: str,
        topics: Topic | Sequence[Topic],
        effect: Effect,
        *,
        max_records: int = 500,
        retry_pause_s: float = 1.0,
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.topics = (topics,) if isinstance(topics, Topic) else tuple(topics)
        self._dlq_topics = {topic.name: dlq_topic(topic, name) for topic in self.topics}
        self.inbox = Inbox(engine, name)
        self.broker = broker
        self._effect = effect
        self._retry_pause_s = retry_pause_s
        self._on_applied = on_applied
        self.applied_total = 0
        self.dead_lettered_total = 0
        broker.subscriber(
            *(topic.name for topic in self.topics),
            group_id=f"carepath.{name}",
            batch=True,
            max_records=max_records,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )(self.handle)

    @property
    def dead_letter_topic(self) -> Topic:
        """The dead-letter topic of a single-topic consumer."""
        [topic] = self.topics
        return self._dlq_topics[topic.name]

    def dead_letter_topic_of(self, topic_name: str) -> Topic:
        """Where this consumer puts what it cannot process from `topic_name`."""
        return self._dlq_topics[topic_name]

    async def handle(self, message: KafkaMessage) -> None:
        """Apply one batch of records."""
        raw = message.raw_message
        records: tuple[ConsumerRecord[Any, Any], ...] = raw if isinstance(raw, tuple) else (raw,)
        parsed: list[tuple[ConsumerRecord[Any, Any], CloudEvent]] = []
        for record in records:
            try:
                parsed.append((record, CloudEvent.from_json(record.value)))
            except ValidationError as error:
                await self._dead_letter(record, error)
        try:
            await self._apply([event for _, event in parsed])
        except POISON:
            # Find the culprit(s): apply one by one, dead-letter what fails.
            for record, event in parsed:
                try:
                    await self._apply([event])
                except POISON as error:
                    await self._dead_letter(record, error)
        except Exception:
            log.exception("%s could not apply a batch; it will be retried", self.name)
            await asyncio.sleep(self._retry_pause_s)
            raise

    async def _apply(self, events: list[CloudEvent]) -> None:
        applied = await self.inbox.apply(events, self._traced_effect)
        self.applied_total += len(applied)
        if applied and self._on_applied is not None:
            self._on_applied()  # e.g. wake the relay for the events the effects appended

    async def _traced_effect(self, session: AsyncSession, event: CloudEvent) -> None:
        # Continue the trace of the request that caused the event, so one trace spans services.
        with (
            continued_trace(event.traceparent),
            tracer.start_as_current_span(
                f"{self.name} apply {event.type}",
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.destination.name": ",".join(t.name for t in self.topics),
                    "cloudevents.event_id": str(event.id),
                },
            ),
        ):
            await self._effect(session, event)

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: Exception) -> None:
        self.dead_lettered_total += 1
        # The error text can quote the payload (PHI), so only its type goes to the log.
        log.warning(
            "%s: %s at %s[%d]@%d goes to %s",
            self.name,
            type(error).__name__,
            record.topic,
            record.partition,
            record.offset,
            self.dead_letter_topic_of(record.topic).name,
        )
        headers = {name: value.decode(errors="replace") for name, value in record.headers or ()}
        headers.update(
            {
                "dlq_consumer": self.name,
                "dlq_error_type": type(error).__name__,
                "dlq_error": str(error)[:2000],
                "dlq_source_topic": record.topic,
                "dlq_source_partition": str(record.partition),
                "dlq_source_offset": str(record.offset),
            }
        )
        await self.broker.publish(
            record.value,
            topic=self.dead_letter_topic_of(record.topic).name,
            key=record.key,
            headers=headers,
        )
