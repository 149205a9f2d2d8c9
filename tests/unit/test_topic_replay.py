"""The topic-replay reader without a broker: which connection settings reach kafka-python, the
order it reads in, where it stops, and the errors it gives. The same reader against the real
broker: tests/with_broker/test_replay.py."""

from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from carepath.chassis.replay import ReplayError, TopicReplay
from carepath.chassis.settings import ServiceSettings

Record = namedtuple("Record", "topic partition offset key value headers timestamp")


class FakeConsumer:
    """Enough of kafka-python's KafkaConsumer for a replay: a log per partition, one
    partition assigned at a time, polls that return at most two records."""

    def __init__(self, log: dict[TopicPartition, list[bytes]], **config: Any) -> None:
        self.log, self.config, self.closed = log, config, False
        self.assigned: TopicPartition | None = None
        self.next_offset = 0

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {tp.partition for tp in self.log if tp.topic == topic}

    def beginning_offsets(self, partitions: list[TopicPartition], _: int) -> dict[Any, int]:
        return dict.fromkeys(partitions, 0)

    def end_offsets(self, partitions: list[TopicPartition], _: int) -> dict[Any, int]:
        return {tp: len(self.log[tp]) for tp in partitions}

    def assign(self, partitions: list[TopicPartition]) -> None:
        [self.assigned] = partitions

    def seek_to_beginning(self, partition: TopicPartition) -> None:
        self.next_offset = 0

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        assert self.assigned is not None
        tp, start = self.assigned, self.next_offset
        values = self.log[tp][start : start + 2]
        self.next_offset += len(values)
        return {
            tp: [
                Record(tp.topic, tp.partition, start + i, b"k", v, [], 1)
                for i, v in enumerate(values)
            ]
        }

    def position(self, partition: TopicPartition, timeout_ms: int) -> int:
        return self.next_offset

    def close(self) -> None:
        self.closed = True


def settings(**kafka: Any) -> ServiceSettings:
    return ServiceSettings(service_name="audit", kafka_bootstrap_servers="broker-0:9093", **kafka)


def test_sasl_ssl_settings_reach_the_consumer(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    made: list[FakeConsumer] = []

    def factory(**config: Any) -> FakeConsumer:
        made.append(FakeConsumer({}, **config))
        return made[-1]

    strimzi_user = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username="carepath-audit",
        kafka_password="s3cret",
        kafka_ca_file=ca,
    )
    with TopicReplay(strimzi_user, ["carepath.intake.events"], consumer_factory=factory):
        pass

    [consumer] = made
    assert {k: consumer.config[k] for k in consumer.config if k != "bootstrap_timeout_ms"} == {
        "bootstrap_servers": "broker-0:9093",
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(ca),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "carepath-audit",
        "sasl_plain_password": "s3cret",
        "client_id": "carepath-audit-replay",
        "group_id": None,
        "enable_auto_commit": False,
    }
    assert consumer.closed


def test_sasl_without_credentials_fails_before_connecting() -> None:
    def factory(**config: Any) -> FakeConsumer:
        raise AssertionError("must not connect")

    with pytest.raises(ReplayError, match="CAREPATH_KAFKA_USERNAME and CAREPATH_KAFKA_PASSWORD"):
        TopicReplay(settings(kafka_security_protocol="SASL_SSL"), ["t"], consumer_factory=factory)


def test_unreachable_brokers_are_a_clear_error() -> None:
    def factory(**config: Any) -> FakeConsumer:
        raise KafkaTimeoutError("Unable to bootstrap from broker-0:9093")

    with pytest.raises(ReplayError, match=r"Kafka at broker-0:9093 \(PLAINTEXT\) did not answer"):
        TopicReplay(settings(), ["t"], consumer_factory=factory, timeout_s=5)


def test_records_come_topic_by_topic_and_partition_by_partition_in_offset_order() -> None:
    log = {
        TopicPartition("b", 1): [b"b1-0"],
        TopicPartition("a", 1): [b"a1-0", b"a1-1", b"a1-2"],
        TopicPartition("b", 0): [b"b0-0", b"b0-1"],
        TopicPartition("a", 0): [b"a0-0"],
        TopicPartition("a", 2): [],
    }
    with TopicReplay(
        settings(), ["b", "a", "gone", "b"], consumer_factory=lambda **c: FakeConsumer(log, **c)
    ) as replay:
        values = [record.value for record in replay]
        assert (replay.planned, replay.missing) == ({"b": 3, "a": 4}, ["gone"])
    assert values == [b"b0-0", b"b0-1", b"b1-0", b"a0-0", b"a1-0", b"a1-1", b"a1-2"]


def test_records_appended_after_the_start_wait_for_the_next_replay() -> None:
    partition = TopicPartition("a", 0)
    log = {partition: [b"0", b"1", b"2"]}
    with TopicReplay(
        settings(), ["a"], consumer_factory=lambda **c: FakeConsumer(log, **c)
    ) as replay:
        log[partition] += [b"3", b"4"]
        assert [(r.offset, r.value) for r in replay] == [(0, b"0"), (1, b"1"), (2, b"2")]


def test_a_broker_that_stops_answering_ends_the_replay_with_an_error() -> None:
    class Silent(FakeConsumer):
        def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
            return {}

    log = {TopicPartition("a", 0): [b"0"]}
    with (
        TopicReplay(
            settings(), ["a"], consumer_factory=lambda **c: Silent(log, **c), timeout_s=0.01
        ) as replay,
        pytest.raises(ReplayError, match=r"stopped answering \(a\[0\] stuck at offset 0 of 1\)"),
    ):
        list(replay)
