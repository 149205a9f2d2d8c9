"""A broker crash on the local three-node cluster (`make up KAFKA_BROKERS=3`) loses no
acknowledged event: topics have replication factor 3 and min.insync.replicas=2, producers use
acks=all, so when the leader of a partition is killed another in-sync replica takes over, writes
go on, and the crashed node catches up when it comes back."""

import os
import uuid
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka_cluster import KafkaCluster, local_kafka_cluster

from carepath.chassis.kafka import ensure_topics
from carepath.contracts import Topic
from support import ROOT, read_to_end, wait_until

PARTITIONS = 3
TEST_VAR = Path(os.environ.get("CAREPATH_TEST_VAR") or ROOT / "var" / "test")

pytestmark = [pytest.mark.broker, pytest.mark.timeout(180)]


def produce(producer: KafkaProducer, topic: str, batch: str, count: int) -> list[tuple[str, str]]:
    """Send `count` records with acks=all, spread over every partition, and wait for every
    acknowledgement."""
    sent = [(f"patient-{i % 7}", f"{batch}-{i}") for i in range(count)]
    futures = [
        producer.send(topic, key=k.encode(), value=v.encode(), partition=i % PARTITIONS)
        for i, (k, v) in enumerate(sent)
    ]
    producer.flush(timeout=60)
    for future in futures:
        future.get(timeout=60)  # raises unless the write reached min.insync.replicas replicas
    return sent


def test_a_killed_leader_loses_no_acknowledged_write() -> None:
    with local_kafka_cluster(TEST_VAR / "kafka-cluster", brokers=3) as cluster:
        topic = f"carepath.test.cluster-{uuid.uuid4().hex[:8]}"
        ensure_topics(
            cluster.bootstrap,
            [Topic(topic, "test", "broker crash")],
            partitions=PARTITIONS,
            replication_factor=3,
        )
        before = cluster.partition(topic, 0)
        assert sorted(before["replica_nodes"]) == cluster.node_ids
        wait_until(
            lambda: cluster.in_sync_replicas(topic, 0) == set(cluster.node_ids),
            timeout=30,
            what="every replica of partition 0 in sync",
        )

        producer = KafkaProducer(
            bootstrap_servers=cluster.bootstrap,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10_000,
            delivery_timeout_ms=60_000,
        )
        try:
            sent = produce(producer, topic, "before", 300)

            victim = cluster.leader_of(topic, 0)
            assert victim in cluster.node_ids
            cluster.kill(victim)
            assert cluster.pid(victim) is None

            # acks=all goes on while the node is down: two replicas of three are enough
            sent += produce(producer, topic, "while-down", 300)
            new_leader = wait_until(
                lambda: _leader_other_than(cluster, topic, victim),
                timeout=30,
                what=f"a leader of partition 0 other than the killed node {victim}",
            )
            assert victim not in cluster.in_sync_replicas(topic, 0)

            cluster.start(victim)
            wait_until(
                lambda: victim in cluster.in_sync_replicas(topic, 0),
                timeout=30,
                what=f"node {victim} back in sync on partition 0 (leader {new_leader})",
                every=0.5,
            )
            sent += produce(producer, topic, "after", 100)
        finally:
            producer.close(timeout=10)

        start = {TopicPartition(topic, p): 0 for p in range(PARTITIONS)}
        records = read_to_end(cluster.bootstrap, start)
        read = Counter((r.key.decode(), r.value.decode()) for r in records)
        assert len(sent) == 700
        assert read == Counter(sent), "every acknowledged record once, none lost, none doubled"


def _leader_other_than(cluster: KafkaCluster, topic: str, node: int) -> int | None:
    leader = cluster.leader_of(topic, 0)
    return leader if leader is not None and leader != node else None
