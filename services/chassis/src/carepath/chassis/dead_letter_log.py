"""The dead-letter topics as an operator reads them: each dead letter described by its headers,
and a connection that reads them, sends them back to their source topic for their one consumer,
and marks them replayed (`carepath-dlq`). Record values may hold patient data: they are kept only
to be sent back, never shown."""

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import NoError
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from carepath.chassis.dead_letter_counts import (
    DeadLetterTopic,
    PartitionBacklog,
    backlogs,
    replay_group,
    retrying,
)
from carepath.chassis.dead_letters import REDRIVE_HEADER
from carepath.chassis.kafka import client_config
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import CloudEvent
from carepath.contracts.envelope import ID_HEADER, TYPE_HEADER, routing_header

POLL_MS = 500


class BrokersAway(RuntimeError):
    """The brokers did not answer, or the connection settings are incomplete."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, as its headers describe it. Its value is kept only to
    be sent back: never print it."""

    topic: DeadLetterTopic
    partition: int
    offset: int
    key: bytes | None = field(repr=False)
    value: bytes | None = field(repr=False)
    headers: tuple[tuple[str, bytes], ...]
    replayed: bool

    @property
    def header(self) -> dict[str, str]:
        return {name: value.decode(errors="replace") for name, value in self.headers}

    @property
    def location(self) -> str:
        return f"{self.topic.name}[{self.partition}]@{self.offset}"

    @property
    def origin(self) -> str:
        h = self.header
        partition, offset = h.get("dlq_source_partition", "?"), h.get("dlq_source_offset", "?")
        return f"{self.topic.source}[{partition}]@{offset}"

    @property
    def event_id(self) -> str | None:
        """The event's id when the record is a CloudEvent carrying its id header, else None:
        then no code change can make the consumer take it, and it is not replayed."""
        if routing_header(self.header, ID_HEADER) is None:
            return None
        try:
            return str(CloudEvent.from_json(self.value or b"").id)
        except ValidationError:
            return None

    def redrive_headers(self) -> list[tuple[str, bytes]]:
        """The original headers (`carepath_*`, `traceparent`, ...), for this consumer only."""
        kept = [(k, v) for k, v in self.headers if not k.startswith("dlq_") and k != REDRIVE_HEADER]
        return [*kept, (REDRIVE_HEADER, self.topic.consumer.encode())]

    def as_dict(self) -> dict[str, Any]:
        h = self.header
        return {
            "consumer": self.topic.consumer,
            "dead_letter_topic": self.topic.name,
            "partition": self.partition,
            "offset": self.offset,
            "source_topic": self.topic.source,
            "source_partition": _int(h.get("dlq_source_partition")),
            "source_offset": _int(h.get("dlq_source_offset")),
            "event_type": routing_header(h, TYPE_HEADER),
            "event_id": routing_header(h, ID_HEADER),
            "error_type": h.get("dlq_error_type"),
            "error": h.get("dlq_error"),
            "attempts": _int(h.get("dlq_attempts")),
            "at": h.get("dlq_at"),
            "replayed": self.replayed,
        }


class Brokers:
    """The connection for one command: reads dead-letter topics, sends back, marks replayed."""

    def __init__(self, settings: ServiceSettings, timeout_s: float) -> None:
        self.timeout_ms = int(timeout_s * 1000)
        try:
            config = {**client_config(settings), "bootstrap_timeout_ms": self.timeout_ms}
        except ValueError as incomplete:
            raise BrokersAway(str(incomplete)) from None
        self._config = config
        self.admin = KafkaAdminClient(**config, client_id="carepath-dlq")
        try:
            self.reader = KafkaConsumer(
                **config, client_id="carepath-dlq", enable_auto_commit=False
            )
        except BaseException:
            self.admin.close()
            raise
        self._producer: KafkaProducer | None = None

    def backlogs(
        self, topics: list[DeadLetterTopic]
    ) -> dict[DeadLetterTopic, list[PartitionBacklog]]:
        return backlogs(self.admin, self.reader, topics, self.timeout_ms)

    def dead_letter_topics(self) -> list[DeadLetterTopic]:
        """Every CarePath dead-letter topic on the brokers, of any consumer."""
        return sorted(t for name in self.reader.topics() if (t := DeadLetterTopic.parse(name)))

    def read(
        self, topic: DeadLetterTopic, backlog: PartitionBacklog, start: int
    ) -> Iterator[DeadLetter]:
        """The dead letters of one partition from `start` to its end as counted."""
        tp = backlog.partition
        self.reader.assign([tp])
        self.reader.seek(tp, start)
        position, idle_since = start, time.monotonic()
        while position < backlog.end:
            batch = self.reader.poll(timeout_ms=POLL_MS, max_records=500)
            for r in batch.get(tp, []):
                if r.offset >= backlog.end:
                    return
                replayed = r.offset < backlog.next_to_replay
                yield DeadLetter(
                    topic, tp.partition, r.offset, r.key, r.value, tuple(r.headers or ()), replayed
                )
            reached = self.reader.position(tp, timeout_ms=self.timeout_ms)
            if reached is not None and reached > position:
                position, idle_since = reached, time.monotonic()
            elif time.monotonic() - idle_since > self.timeout_ms / 1000:
                raise BrokersAway(
                    f"stopped answering ({tp.topic}[{tp.partition}] at offset {position})"
                )

    def newest(self, topic: DeadLetterTopic, partitions: list[PartitionBacklog]) -> str | None:
        """When the newest dead letter of `topic` was set aside (`dlq_at`)."""
        times = [
            letter.header.get("dlq_at", "")
            for p in partitions
            if p.total
            for letter in self.read(topic, p, p.end - 1)
        ]
        return max(times, default="") or None

    def send_back(self, letter: DeadLetter) -> None:
        """Send `letter` to its source topic and wait until the brokers acknowledge it (acks=all);
        to the partition it came from when that partition is still there, else by its key."""
        if self._producer is None:
            self._producer = KafkaProducer(
                **self._config, client_id="carepath-dlq-replay", acks="all"
            )
        source = letter.topic.source
        partition = _int(letter.header.get("dlq_source_partition"))
        if partition not in (self._producer.partitions_for(source) or set()):
            partition = None
        sent = self._producer.send(
            source,
            value=letter.value,
            key=letter.key,
            headers=letter.redrive_headers(),
            partition=partition,
        )
        sent.get(timeout=self.timeout_ms / 1000)

    def mark_replayed(self, letter: DeadLetter) -> None:
        """Commit past `letter` in the consumer's replay group: it is not replayed again."""
        tp = TopicPartition(letter.topic.name, letter.partition)
        group = replay_group(letter.topic.consumer)
        offsets = {tp: OffsetAndMetadata(letter.offset + 1, "", -1)}
        result = retrying(lambda: self.admin.alter_group_offsets(group, offsets), self.timeout_ms)
        if (error := result.get(tp, NoError)) is not NoError:
            raise BrokersAway(
                f"refused to mark {letter.location} replayed in {group} ({error.__name__})"
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self.timeout_ms / 1000)
        self.reader.close()
        self.admin.close()


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
