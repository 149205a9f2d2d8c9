"""How many dead letters each consumer has, and how many still wait for a replay.

A consumer's dead letters are the records of its dead-letter topics (`<topic>.dlq.<consumer>`).
What `carepath-dlq replay` has sent back is marked by the committed offsets of the consumer group
`carepath.dlq-replay.<consumer>` on those topics: a dead letter below the committed offset was
replayed, one at or above it waits. The operators' tool and the dashboard's lag panel count the
same way, here.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from carepath.contracts import ALL_TOPICS, Topic, dlq_topic
from carepath.contracts.topics import dead_letter_topics

T = TypeVar("T")


def retrying(call: Callable[[], T], timeout_ms: int) -> T:
    """`call()`, tried again while it fails with an error Kafka marks retriable (a group
    coordinator still being elected, as on a fresh cluster) for up to `timeout_ms`."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            return call()
        except KafkaError as error:
            if not error.retriable or time.monotonic() >= deadline:
                raise
        time.sleep(0.2)


def replay_group(consumer: str) -> str:
    """The consumer group whose committed offsets mark what was replayed for `consumer`."""
    return f"carepath.dlq-replay.{consumer}"


@dataclass(frozen=True, order=True)
class DeadLetterTopic:
    """One consumer's dead-letter topic for one source topic."""

    consumer: str
    source: str
    name: str

    @classmethod
    def of(cls, topic: Topic, consumer: str) -> "DeadLetterTopic":
        """The dead-letter topic of `consumer` for `topic`."""
        return cls(consumer, topic.name, dlq_topic(topic, consumer).name)

    @classmethod
    def parse(cls, name: str) -> "DeadLetterTopic | None":
        """The dead-letter topic named `name`, or None when it names no CarePath DLQ topic."""
        for topic in ALL_TOPICS:
            prefix = dlq_topic(topic, "").name  # `<topic>.dlq.`, spelt by the registry
            if name.startswith(prefix) and len(name) > len(prefix):
                return cls(name[len(prefix) :], topic.name, name)
        return None


@dataclass(frozen=True)
class PartitionBacklog:
    """One partition of a dead-letter topic: its records and where replay stands."""

    partition: TopicPartition
    first: int
    end: int
    next_to_replay: int
    """The first offset not replayed yet (the replay group's committed offset, else `first`)."""

    @property
    def total(self) -> int:
        return self.end - self.first

    @property
    def waiting(self) -> int:
        return max(0, self.end - self.next_to_replay)


@dataclass(frozen=True)
class DeadLetterCount:
    """One consumer's dead letters from one source topic: all of them, and those waiting."""

    topic: DeadLetterTopic
    total: int
    waiting: int

    @classmethod
    def of(cls, topic: DeadLetterTopic, partitions: list[PartitionBacklog]) -> "DeadLetterCount":
        """The sums over the topic's partitions."""
        return cls(topic, sum(p.total for p in partitions), sum(p.waiting for p in partitions))

    def as_dict(self) -> dict[str, Any]:
        """As `/api/summary` and `carepath-dlq list --json` give it."""
        return {
            "consumer": self.topic.consumer,
            "topic": self.topic.source,
            "dead_letter_topic": self.topic.name,
            "total": self.total,
            "waiting": self.waiting,
        }


def backlogs(
    admin: Any, reader: Any, topics: Iterable[DeadLetterTopic], timeout_ms: int = 10_000
) -> dict[DeadLetterTopic, list[PartitionBacklog]]:
    """Per dead-letter topic, its partitions' bounds and replay positions, read with a
    kafka-python admin client and consumer. A topic the brokers do not have has no partitions."""
    wanted = list(dict.fromkeys(topics))
    partitions = {
        topic: [
            TopicPartition(topic.name, p)
            for p in sorted(reader.partitions_for_topic(topic.name) or ())
        ]
        for topic in wanted
    }
    every = [tp for tps in partitions.values() for tp in tps]
    first = reader.beginning_offsets(every, timeout_ms) if every else {}
    end = reader.end_offsets(every, timeout_ms) if every else {}
    committed: dict[TopicPartition, int] = {}
    for consumer in sorted({topic.consumer for topic in wanted}):
        own = [tp for topic in wanted if topic.consumer == consumer for tp in partitions[topic]]
        if own:
            group = replay_group(consumer)
            found = retrying(partial(admin.list_group_offsets, {group: own}), timeout_ms)
            offsets = found.get(group, {})
            committed.update({tp: meta.offset for tp, meta in offsets.items()})
    return {
        topic: [
            PartitionBacklog(
                tp, first[tp], end[tp], min(end[tp], max(first[tp], committed.get(tp, -1)))
            )
            for tp in partitions[topic]
        ]
        for topic in wanted
    }


def count_dead_letters(
    config: dict[str, Any], topics: Iterable[DeadLetterTopic], timeout_s: float = 10.0
) -> list[DeadLetterCount]:
    """Dead letters of each of `topics`, all and waiting, in the order given. `config` is the
    connection (`client_config(settings)`); raises kafka-python's errors when the brokers do not
    answer."""
    timeout_ms = int(timeout_s * 1000)
    options = {**config, "bootstrap_timeout_ms": timeout_ms}
    admin = KafkaAdminClient(**options, client_id="carepath-dlq-count")
    try:
        reader = KafkaConsumer(**options, client_id="carepath-dlq-count", enable_auto_commit=False)
        try:
            found = backlogs(admin, reader, topics, timeout_ms)
        finally:
            reader.close()
    finally:
        admin.close()
    return [DeadLetterCount.of(topic, partitions) for topic, partitions in found.items()]


def system_dead_letter_topics() -> list[DeadLetterTopic]:
    """The dead-letter topic of every CarePath consumer and topic it reads (the registry's)."""
    return [found for topic in dead_letter_topics() if (found := DeadLetterTopic.parse(topic.name))]
