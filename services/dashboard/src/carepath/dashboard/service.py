"""The dashboard service: its projection consumers, change notifications, and the summary."""

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any
from uuid import UUID

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from carepath.chassis.kafka import client_config
from carepath.chassis.runtime import ServiceRuntime
from carepath.contracts.topics import SUBSCRIPTIONS
from carepath.dashboard import queries
from carepath.dashboard.clinic_policy import DashboardPolicy

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


class Dashboard:
    def __init__(
        self, runtime: ServiceRuntime, policy: DashboardPolicy, late_entry: timedelta
    ) -> None:
        self.runtime = runtime
        self.policy = policy
        self.late_entry = late_entry
        self.changes = Changes()
        self._lag: tuple[float, list[dict[str, Any]]] = (0.0, [])

    @property
    def name(self) -> str:
        return self.runtime.settings.service_name

    async def summary(self) -> dict[str, Any]:
        lag = await self.lag()
        now = self.runtime.clock.now().astimezone(self.runtime.settings.clinic_zone)
        async with self.runtime.store.transaction() as session:
            return await queries.summary(session, now, lag, self.policy.observation_minutes)

    async def timeline(self, patient_id: UUID) -> list[dict[str, Any]]:
        """A patient's events in clinical order, late entries marked."""
        async with self.runtime.store.transaction() as session:
            return await queries.timeline(session, patient_id, self.late_entry)

    async def lag(self) -> list[dict[str, Any]]:
        """Per topic: what the dashboard consumed, the end of the topic, and the difference."""
        fetched_at, cached = self._lag
        if time.monotonic() - fetched_at < LAG_CACHE_SECONDS:
            return cached
        try:
            lag = await asyncio.to_thread(
                projection_lag, client_config(self.runtime.settings), self.name
            )
        except Exception as error:
            log.warning("projection lag unavailable (%s)", type(error).__name__)
            return cached
        self._lag = (time.monotonic(), lag)
        return lag


def projection_lag(config: dict[str, Any], consumer: str) -> list[dict[str, Any]]:
    """Committed offsets of the consumer group vs end offsets, per topic (kafka-python admin)."""
    group = f"carepath.{consumer}"
    admin = KafkaAdminClient(**config, client_id="carepath-dashboard-lag")
    reader = KafkaConsumer(**config, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
        rows = []
        for topic in SUBSCRIPTIONS[consumer]:
            partitions = [tp for tp in committed if tp.topic == topic.name]
            every = [
                TopicPartition(topic.name, p) for p in reader.partitions_for_topic(topic.name) or ()
            ]
            ends = reader.end_offsets(every) if every else {}
            end = sum(ends.values())
            consumed = sum(committed[tp].offset for tp in partitions if committed[tp].offset >= 0)
            rows.append(
                {
                    "topic": topic.name,
                    "consumed": consumed,
                    "end": end,
                    "lag": max(0, end - consumed),
                }
            )
        return rows
    finally:
        admin.close()
        reader.close()
