"""The topic-replay reader against the real broker: it reads a topic from offset 0 partition by
partition in offset order, and stops at the end offsets it found at the start, even while the
topic grows."""

from uuid import uuid4

import pytest
from kafka import KafkaProducer

from carepath.chassis.kafka import ensure_topics
from carepath.chassis.replay import ReplayError, TopicReplay
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import Topic

pytestmark = pytest.mark.broker


def fresh_topic(bootstrap: str, partitions: int) -> str:
    name = f"replay-test-{uuid4().hex[:8]}"
    ensure_topics(bootstrap, [Topic(name, "test", "replay test")], partitions=partitions)
    return name


def send(producer: KafkaProducer, topic: str, partition: int, value: bytes) -> None:
    producer.send(
        topic,
        partition=partition,
        key=f"patient-{partition}".encode(),
        value=value,
        headers=[("ce_type", b"test")],
    ).get(timeout=30)


def test_a_replay_reads_every_partition_in_offset_order_up_to_the_end_it_found(
    kafka_bootstrap: str,
) -> None:
    topic = fresh_topic(kafka_bootstrap, partitions=3)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for n in range(9):
        send(producer, topic, n % 3, f"{n % 3}:{n // 3}".encode())
    settings = ServiceSettings(service_name="test", kafka_bootstrap_servers=kafka_bootstrap)

    with TopicReplay(settings, [topic, f"{topic}-absent"]) as replay:
        send(producer, topic, 0, b"late")  # after the replay took the end offsets
        records = list(replay)
        assert (replay.planned, replay.missing) == ({topic: 9}, [f"{topic}-absent"])

    assert [(r.partition, r.offset, r.value) for r in records] == [
        (p, o, f"{p}:{o}".encode()) for p in range(3) for o in range(3)
    ]
    first = records[0]
    assert (first.topic, first.key, first.headers) == (topic, b"patient-0", (("ce_type", b"test"),))
    assert all(r.timestamp > 0 for r in records)

    with TopicReplay(settings, [topic]) as again:  # the next replay sees the late record
        assert [r.value for r in again][3] == b"late"
    producer.close()


def test_unreachable_brokers_are_a_clear_error() -> None:
    settings = ServiceSettings(service_name="test", kafka_bootstrap_servers="127.0.0.1:1")
    with pytest.raises(ReplayError, match=r"Kafka at 127\.0\.0\.1:1 \(PLAINTEXT\) did not answer"):
        TopicReplay(settings, ["carepath.intake.events"], timeout_s=2)
