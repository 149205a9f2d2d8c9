"""The dashboard service: its projection consumers, change notifications, and the summary."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from carepath.chassis.dead_letter_counts import count_dead_letters, system_dead_letter_topics
from carepath.chassis.kafka import client_config
from carepath.chassis.runtime import ServiceRuntime
from carepath.contracts.topics import SUBSCRIPTIONS
from carepath.dashboard import queries
from carepath.dashboard.clinic_policy import DashboardPolicy
from carepath.dashboard.versions import RUNNING

LAG_CACHE_SECONDS = 5.0
log = logging.getLogger(__name__)


class Changes:
    """Tells the live page that the read models changed."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_change(self, within_s: float) -> None:
        """Return at the next change, or after `within_s` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within_s)


class BrokerFigures:
    """Figures read from the brokers (in a thread: kafka-python blocks), kept for
    `LAG_CACHE_SECONDS`; while the brokers do not answer, the last ones known."""

    def __init__(self, what: str, read: Callable[[], list[dict[str, Any]]]) -> None:
        self._what = what
        self._read = read
        self._fetched: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._one_at_a_time = asyncio.Lock()  # a busy page must not start a read per request

    async def get(self) -> list[dict[str, Any]]:
        """The figures, read at most once per `LAG_CACHE_SECONDS` (a failed read included)."""
        async with self._one_at_a_time:
            fetched_at, cached = self._fetched
            if time.monotonic() - fetched_at < LAG_CACHE_SECONDS:
                return cached
            try:
                figures = await asyncio.to_thread(self._read)
            except Exception as error:
                log.warning("%s unavailable (%s)", self._what, type(error).__name__)
                figures = cached
            self._fetched = (time.monotonic(), figures)
            return figures


class Dashboard:
    def __init__(
        self, runtime: ServiceRuntime, policy: DashboardPolicy, late_entry: timedelta
    ) -> None:
        self.runtime = runtime
        self.policy = policy
        self.late_entry = late_entry
        self.changes = Changes()
        settings = runtime.settings
        self._lag = BrokerFigures(
            "projection lag",
            lambda: projection_lag(client_config(settings), RUNNING.group, self.name),
        )
        self._dead_letters = BrokerFigures(
            "dead-letter counts", lambda: dead_letter_backlog(client_config(settings))
        )

    @property
    def name(self) -> str:
        return self.runtime.settings.service_name

    async def summary(self) -> dict[str, Any]:
        lag, dead_letters = await asyncio.gather(self.lag(), self._dead_letters.get())
        now = self.runtime.clock.now().astimezone(self.runtime.settings.clinic_zone)
        async with self.runtime.store.transaction() as session:
            return await queries.summary(
                session, now, lag, self.policy.observation_minutes, dead_letters=dead_letters
            )

    async def timeline(self, patient_id: UUID) -> list[dict[str, Any]]:
        """A patient's events in clinical order, late entries marked."""
        async with self.runtime.store.transaction() as session:
            return await queries.timeline(session, patient_id, self.late_entry)

    async def lag(self) -> list[dict[str, Any]]:
        """Per topic: what the dashboard consumed, the end of the topic, and the difference."""
        return await self._lag.get()


def projection_lag(config: dict[str, Any], group: str, consumer: str) -> list[dict[str, Any]]:
    """Per topic `consumer` reads: what its consumer group applied (committed offsets), the end
    of the topic, and the difference."""
    lag = partition_lag(config, group, consumer)
    rows = []
    for topic in SUBSCRIPTIONS[consumer]:
        own = [(end, left) for (name, _), (end, left) in lag.items() if name == topic.name]
        end = sum(end for end, _ in own)
        behind = sum(left for _, left in own)
        rows.append({"topic": topic.name, "consumed": end - behind, "end": end, "lag": behind})
    return rows


def partition_lag(
    config: dict[str, Any], group: str, consumer: str
) -> dict[tuple[str, int], tuple[int, int]]:
    """Per partition of the topics `consumer` reads: its end offset, and how many records before
    it the group has not applied (committed offsets vs end offsets, kafka-python admin)."""
    admin = KafkaAdminClient(**config, client_id="carepath-dashboard-lag")
    reader = KafkaConsumer(**config, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
        every = [
            TopicPartition(topic.name, p)
            for topic in SUBSCRIPTIONS[consumer]
            for p in reader.partitions_for_topic(topic.name) or ()
        ]
        ends = reader.end_offsets(every) if every else {}
        lag = {}
        for partition, end in ends.items():
            offset = committed[partition].offset if partition in committed else -1
            lag[(partition.topic, partition.partition)] = (end, max(0, end - max(offset, 0)))
        return lag
    finally:
        admin.close()
        reader.close()


def dead_letter_backlog(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Per consumer of the system and topic it reads: its dead letters, and how many of them wait
    for `carepath-dlq replay` (counted as the operators' tool counts them)."""
    return [count.as_dict() for count in count_dead_letters(config, system_dead_letter_topics())]
