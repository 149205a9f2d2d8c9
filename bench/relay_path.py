"""Relay: events per second from the event store to Kafka, against Kafka's ProducerPerformance
sending the same number of records of the same mean size with the same producer guarantees."""

import re
import subprocess
import time

from servers import BENCH_VAR, JARS

from carepath.chassis.database import create_engine
from carepath.chassis.kafka import ensure_topics, make_producer
from carepath.chassis.relay import OutboxRelay
from carepath.chassis.settings import ServiceSettings
from carepath.chassis.store import EventStore
from carepath.contracts import ALL_TOPICS
from carepath.contracts.topics import Topic, dead_letter_topics

PERFORMANCE_TOPIC = Topic("bench.producer-performance", "bench", "ProducerPerformance's records")
PARTITIONS = 6


def create_topics(bootstrap: str) -> None:
    """The registry's topics (dead letters included: a consumer that cannot dead-letter
    stalls) and the reference tool's, as `carepath-topics` creates them."""
    topics = (*ALL_TOPICS, *dead_letter_topics(), PERFORMANCE_TOPIC)
    ensure_topics(bootstrap, topics, partitions=PARTITIONS)
    time.sleep(3)  # new leaders take a moment to reach every client; no retries in the timing


async def relay_everything(database_url: str, bootstrap: str) -> tuple[int, float]:
    """Drain the store's outbox to Kafka with the service's own relay; (events, events/s)."""
    settings = ServiceSettings(
        service_name="intake", kafka_bootstrap_servers=bootstrap, var_dir=BENCH_VAR
    )
    engine = create_engine(database_url)
    relay = OutboxRelay(
        EventStore(engine), lambda: make_producer(settings), batch_size=settings.relay_batch_size
    )
    try:
        await relay.connect()
        started = time.perf_counter()
        published = await relay.drain()
        return published, published / (time.perf_counter() - started)
    finally:
        await relay.close()
        await engine.dispose()


def producer_performance(bootstrap: str, records: int, size: int) -> float:
    """Kafka's ProducerPerformance: idempotent, acks=all, unthrottled; records/s it reports."""
    command = [
        "java", "-cp", str(JARS), "org.apache.kafka.tools.ProducerPerformance",
        "--topic", PERFORMANCE_TOPIC.name, "--num-records", str(records),
        "--record-size", str(size), "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "enable.idempotence=true", "linger.ms=5",
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 (fixed argv)
    return _records_per_second(output.strip().splitlines()[-1])


def _records_per_second(summary: str) -> float:
    # "20000 records sent, 51282.1 records/sec (36.6 MB/sec), 98.1 ms avg latency, ..."
    found = re.search(r"([\d.]+) records/sec", summary)
    if not found:
        raise RuntimeError(f"unexpected ProducerPerformance summary: {summary}")
    return float(found.group(1))
