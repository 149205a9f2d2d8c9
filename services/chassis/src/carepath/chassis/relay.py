"""The outbox relay: publishes the event store's unpublished events to Kafka, in order.

It sends a whole batch without waiting for each acknowledgement (the idempotent producer keeps
each partition's order), then waits for all of them and marks the batch published in one
statement. A crash after sending and before marking republishes those events on restart; the
consumers' inboxes drop the duplicates. It wakes at once when the service appends (`wake`) and
polls as a fallback.
"""

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

from faststream.kafka import KafkaBroker

from carepath.chassis.store import EventStore, RecordedEvent
from carepath.chassis.telemetry import continued_trace
from carepath.contracts import registry

log = logging.getLogger(__name__)

TopicResolver = Callable[[str], str]


def topic_from_registry(event_type: str) -> str:
    """The topic of an event type, from the contracts' type registry."""
    return registry.model_for(event_type).topic().name


class OutboxRelay:
    """Moves events from the store to Kafka. Run one per service (see `run`)."""

    def __init__(
        self,
        store: EventStore,
        broker: KafkaBroker,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
        topic_of: TopicResolver = topic_from_registry,
    ) -> None:
        self.store = store
        self.broker = broker
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.topic_of = topic_of
        self._wakeup = asyncio.Event()
        self.published_total = 0

    def wake(self) -> None:
        """Tell the relay that new events were appended."""
        self._wakeup.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events; returns how many were published."""
        batch = await self.store.unpublished(self.batch_size)
        if not batch:
            return 0
        await self._send(batch)
        await self.store.mark_published([event.position for event in batch])
        self.published_total += len(batch)
        return len(batch)

    async def drain(self) -> int:
        """Publish until nothing is left; returns how many were published."""
        total = 0
        while published := await self.publish_pending():
            total += published
        return total

    async def run(self) -> None:
        """Publish forever: batches back to back while there is a backlog, else wait for work.

        Runs only while this process holds the store's publishing lease, so that of several
        replicas one publishes and the others stand by.
        """
        while True:
            try:
                async with self.store.publishing_lease(self.poll_seconds) as lease:
                    while True:
                        await lease.confirm()
                        if await self.publish_pending() < self.batch_size:
                            await self._wait_for_work()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Kafka or the database is away: the events stay in the store; try again.
                log.exception(
                    "outbox relay could not publish; retrying in %.1fs", self.poll_seconds
                )
                await asyncio.sleep(self.poll_seconds)

    async def _wait_for_work(self) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self.poll_seconds)
        self._wakeup.clear()

    async def _send(self, batch: list[RecordedEvent]) -> None:
        pending = []
        for recorded in batch:
            cloud_event = recorded.to_cloud_event()
            # The producer span continues the trace of the request that caused the event.
            with continued_trace(cloud_event.traceparent):
                pending.append(
                    await self.broker.publish(
                        cloud_event.to_json(),
                        topic=self.topic_of(recorded.event_type),
                        key=cloud_event.kafka_key(),
                        headers=cloud_event.kafka_headers(),
                        correlation_id=cloud_event.correlationid,
                        no_confirm=True,
                    )
                )
        await asyncio.gather(*pending)
