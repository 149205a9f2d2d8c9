"""Replaying topics from their first offset: the one reader behind the auditors' tool
(`carepath-audit`) and the dashboard rebuild (`carepath-dashboard rebuild`).

It reads with kafka-python through `client_config`, so a replay reaches the same TLS/SASL
listener as the services (`CAREPATH_KAFKA_SECURITY_PROTOCOL` and the rest of the settings).
"""

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from carepath.chassis.kafka import client_config
from carepath.chassis.settings import ServiceSettings

POLL_MS = 500
MAX_RECORDS = 2000

ConsumerFactory = Callable[..., Any]
"""Makes the kafka-python consumer from its keyword configuration (`KafkaConsumer`; a fake in
tests)."""


class ReplayError(RuntimeError):
    """The topics could not be read: the brokers did not answer, stopped answering, or the
    connection settings are incomplete. The message says which and where."""


@dataclass(frozen=True, slots=True)
class ReplayedRecord:
    """One record as the brokers hold it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int  # milliseconds since the epoch: the producer's create time or the append time


class TopicReplay:
    """Every record of `topics` from the first offset up to the end offsets as of opening, so a
    replay of a live topic ends; what is appended meanwhile waits for the next replay.

    Order: topic by topic as given, partition by partition, each partition in offset order (the
    order Kafka keeps, so each patient's stream comes in sequence). A topic the brokers do not
    have is listed in `missing` and yields nothing. Open it in a `with` block, iterate it once.
    Raises `ReplayError` when the brokers cannot be reached within `timeout_s`, or stop
    answering for that long during the replay.
    """

    missing: list[str]
    """The topics asked for that the brokers do not have, or do not show to this user (on a
    secured cluster Kafka hides a topic from a user without an ACL to describe it)."""
    planned: dict[str, int]
    """Records to read per topic (end minus first offset), in reading order: for progress."""

    def __init__(
        self,
        settings: ServiceSettings,
        topics: Iterable[str],
        *,
        timeout_s: float = 30.0,
        consumer_factory: ConsumerFactory = KafkaConsumer,
    ) -> None:
        self._where = (
            f"Kafka at {settings.kafka_bootstrap_servers} ({settings.kafka_security_protocol})"
        )
        self._timeout_ms = int(timeout_s * 1000)
        config = _consumer_config(settings, self._timeout_ms)
        with self._failing(f"did not answer within {timeout_s:g} s"):
            self._consumer = consumer_factory(**config)
        try:
            with self._failing("did not give the topics' offsets"):
                self._plan(list(dict.fromkeys(topics)))
        except BaseException:
            self._consumer.close()
            raise

    def _plan(self, topics: list[str]) -> None:
        found = {
            topic: sorted(self._consumer.partitions_for_topic(topic) or ()) for topic in topics
        }
        partitions = [TopicPartition(t, p) for t in topics for p in found[t]]
        first = self._consumer.beginning_offsets(partitions, self._timeout_ms) if partitions else {}
        ends = self._consumer.end_offsets(partitions, self._timeout_ms) if partitions else {}
        self.missing = [topic for topic in topics if not found[topic]]
        self._bounds = {tp: (first[tp], ends[tp]) for tp in partitions}
        self.planned = {topic: 0 for topic in topics if found[topic]}
        for tp, (start, end) in self._bounds.items():
            self.planned[tp.topic] += end - start

    def __iter__(self) -> Iterator[ReplayedRecord]:
        for partition, (start, end) in self._bounds.items():
            if start < end:
                yield from self._partition(partition, start, end)

    def _partition(
        self, partition: TopicPartition, start: int, end: int
    ) -> Iterator[ReplayedRecord]:
        self._consumer.assign([partition])
        self._consumer.seek_to_beginning(partition)
        name = f"{partition.topic}[{partition.partition}]"
        position, idle_since = start, time.monotonic()
        while position < end:
            with self._failing(f"failed reading {name} at offset {position}"):
                batch = self._consumer.poll(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                reached = self._consumer.position(partition, timeout_ms=self._timeout_ms)
            for record in batch.get(partition, []):
                if record.offset >= end:
                    return  # appended after the replay began
                yield _replayed(record)
            if reached is not None and reached > position:
                position, idle_since = reached, time.monotonic()
            elif time.monotonic() - idle_since > self._timeout_ms / 1000:
                raise ReplayError(
                    f"{self._where} stopped answering ({name} stuck at offset {position} of {end})"
                )

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Turns kafka-python's errors into a `ReplayError` that says where and what to check."""
        try:
            yield
        except KafkaError as error:
            raise ReplayError(
                f"{self._where} {what} ({error}); check KAFKA_BOOTSTRAP_SERVERS "
                "(--bootstrap-servers) and CAREPATH_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, "
                "_USERNAME, _PASSWORD, _CA_FILE"
            ) from error

    def close(self) -> None:
        """Close the connection to the brokers."""
        self._consumer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def with_progress(
    replay: TopicReplay, console: Console, *, transient: bool = False
) -> Iterator[ReplayedRecord]:
    """The records of `replay`, with a progress bar per topic on `console` (records read of the
    planned) and a note for each topic the brokers do not have."""
    for topic in replay.missing:
        console.print(
            f"{topic}: not on the brokers (or hidden from these credentials), nothing to read",
            highlight=False,
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    ) as progress:
        tasks = {topic: progress.add_task(topic, total=n) for topic, n in replay.planned.items()}
        for record in replay:
            yield record
            progress.advance(tasks[record.topic])


def _consumer_config(settings: ServiceSettings, timeout_ms: int) -> dict[str, Any]:
    try:
        connection = client_config(settings)  # says which security setting is missing
    except ValueError as incomplete:
        raise ReplayError(str(incomplete)) from None
    return {
        **connection,
        "client_id": f"carepath-{settings.service_name}-replay",
        "group_id": None,  # no group: nothing committed, nothing rebalanced
        "enable_auto_commit": False,
        "bootstrap_timeout_ms": timeout_ms,
    }


def _replayed(record: Any) -> ReplayedRecord:
    return ReplayedRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
        timestamp=record.timestamp,
    )
