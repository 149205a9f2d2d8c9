"""A broker of three dies under load: the leader of the busiest partition is killed mid-cohort;
a new leader takes over, commands and cross-service steps go on, and when the node returns
nothing was lost or applied twice."""

import asyncio
import time
from collections.abc import Iterator

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka_cluster import KafkaCluster, local_kafka_cluster
from system import ClinicSystem, TrialResult

from carepath.chassis.kafka import ensure_topics
from carepath.contracts import ALL_TOPICS
from carepath.contracts.topics import INTAKE_EVENTS, dead_letter_topics
from support import eventually

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    with local_kafka_cluster(tmp_path_factory.mktemp("cluster"), brokers=3) as running:
        ensure_topics(
            running.bootstrap, ALL_TOPICS + dead_letter_topics(), replication_factor=3
        )  # min.insync.replicas=2
        yield running


def busiest_partition(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        return max(ends, key=lambda tp: ends[tp]).partition
    finally:
        consumer.close()


async def test_killing_the_leader_of_a_busy_partition_mid_load(
    cluster: KafkaCluster,
    tmp_path_factory: pytest.TempPathFactory,
    fault_results: list[TrialResult],
) -> None:
    system = ClinicSystem(tmp_path_factory.mktemp("on-cluster"), cluster.bootstrap).start()
    try:
        cohort = asyncio.create_task(system.drive_cohort(patients=8, seed=53))
        grown = len(await asyncio.to_thread(system.stored_event_ids)) + 25
        await eventually(
            lambda: len(system.stored_event_ids()) >= grown, within=120, what="the cohort under way"
        )
        partition = busiest_partition(cluster.bootstrap, INTAKE_EVENTS.name)
        leader = cluster.leader_of(INTAKE_EVENTS.name, partition)
        assert leader is not None
        cluster.kill(leader)
        killed_at = time.monotonic()

        def elected() -> int | None:
            try:
                node = cluster.leader_of(INTAKE_EVENTS.name, partition)
            except KafkaError:  # asked the dead node: ask again
                return None
            return node if node not in (None, leader) else None

        new_leader = await eventually(elected, within=60, what="a new leader for the partition")
        failover = time.monotonic() - killed_at
        journeys = await cohort  # the cohort went on with one broker down
        await asyncio.to_thread(cluster.start, leader)
        recovery = await system.settle(within=180)
        result = await asyncio.to_thread(
            system.verdict,
            f"3 brokers, kill leader {leader} (node {new_leader} after {failover:.0f} s)",
            recovery,
            journeys,
        )
    finally:
        system.stop()
    fault_results.append(result)
    assert not result.problems(), result
    assert result.interrupted == 0, "a journey stopped while one broker of three was down"
