"""Reading the relayed log: `carepath-audit verify` against a bare kafka-python consumer, and
`carepath-dashboard rebuild` against a bare aiokafka consumer and Kafka's ConsumerPerformance."""

import re
import subprocess
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, TopicPartition
from live import StageTimeout
from servers import BENCH_VAR, JARS

from carepath.chassis.evidence_pool import EvidencePool, provenance_problems
from carepath.contracts.topics import SUBSCRIPTIONS

TOOLS = Path(sys.executable).parent  # the workspace's console scripts

STAGE_DEADLINE_S = 300  # a reading stage that takes longer gives up and says what it saw


def audit_verify(bootstrap: str, topic: str, keys_dir: Path) -> tuple[int, float]:
    """`carepath-audit verify --topic`; (events, events/s as it reports them, start-up excluded).
    Fails when it reports any finding: the relayed log must verify."""
    command = [
        str(TOOLS / "carepath-audit"), "verify", "--bootstrap-servers", bootstrap,
        "--keys-dir", str(keys_dir), "--topic", topic,
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603 (fixed argv)
        command, capture_output=True, text=True, check=False, timeout=STAGE_DEADLINE_S
    )
    found = re.search(r"(\d+) events in .* \(([\d,.]+) events/s\); (\d+) findings", result.stdout)
    if result.returncode != 0 or not found:
        raise RuntimeError(f"carepath-audit verify failed:\n{result.stdout}\n{result.stderr}")
    return int(found.group(1)), float(found.group(2).replace(",", ""))


def bare_kafka_python(bootstrap: str, topics: list[str]) -> tuple[int, float]:
    """Read `topics` from offset 0 to their current end with kafka-python; (records, records/s)."""
    started = time.perf_counter()
    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
        ends = reader.end_offsets(partitions)
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        count = 0
        deadline = time.perf_counter() + STAGE_DEADLINE_S
        while any(reader.position(tp) < end for tp, end in ends.items()):
            count += sum(len(batch) for batch in reader.poll(timeout_ms=500).values())
            if time.perf_counter() > deadline:
                raise StageTimeout(
                    f"bare kafka-python read {count:,} records in {STAGE_DEADLINE_S} s"
                )
        return count, count / (time.perf_counter() - started)
    finally:
        reader.close()


def signature_checks(bootstrap: str, topics: list[str], keys_dir: Path) -> tuple[int, float]:
    """The records of `topics` (read first, not timed) checked as a rebuild checks them, on
    every core (`EvidencePool`); (records, records/s). The most any rebuild that checks every
    record's signature can do on this machine."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = partitions_of(bootstrap, topics)
        ends = reader.end_offsets(partitions)
        reader.assign(partitions)
        reader.seek_to_beginning(*partitions)
        records: list[tuple[str, bytes | None]] = []
        deadline = time.perf_counter() + STAGE_DEADLINE_S
        while any(reader.position(tp) < end for tp, end in ends.items()):
            for batch in reader.poll(timeout_ms=500).values():
                records += [(r.topic, r.value) for r in batch]
            if time.perf_counter() > deadline:
                raise StageTimeout(f"read {len(records):,} records in {STAGE_DEADLINE_S} s")
    finally:
        reader.close()
    with EvidencePool(keys_dir) as pool:
        started = time.perf_counter()
        problems = [p for _, p in pool.checked(provenance_problems, records, lambda r: r) if p]
        elapsed = time.perf_counter() - started
    if problems:
        raise RuntimeError(f"{len(problems)} records do not verify: {problems[0]}")
    return len(records), len(records) / elapsed


def partitions_of(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of `topics`, from the cluster's metadata."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
    finally:
        reader.close()


STALL_S = 30  # a bare read that gets nothing for this long starts again (at most twice)


class Stalled(RuntimeError):
    """A read that got no record for `STALL_S` seconds."""


async def bare_aiokafka(
    bootstrap: str, topics: list[str], deadline_s: float = STAGE_DEADLINE_S
) -> tuple[int, float]:
    """Read `topics` from offset 0 to their current end with aiokafka; (records, records/s).
    Now and then a fresh aiokafka reader fetches nothing at all (twice in about ten runs here,
    cause not found); such a read starts again with a new reader, and the console says so."""
    partitions = [
        AioTopicPartition(tp.topic, tp.partition) for tp in partitions_of(bootstrap, topics)
    ]
    for attempt in range(1, 4):
        try:
            return await _read_all(bootstrap, partitions, deadline_s)
        except Stalled as stall:
            print(f"  bare aiokafka read, attempt {attempt}: {stall}; starting again")
    raise StageTimeout(f"bare aiokafka read stalled 3 times on {', '.join(topics)}")


async def _read_all(
    bootstrap: str, partitions: list[AioTopicPartition], deadline_s: float
) -> tuple[int, float]:
    started = time.perf_counter()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign(partitions)
        ends = await reader.end_offsets(partitions)
        starts = await reader.beginning_offsets(partitions)
        expected = sum(ends[tp] - starts[tp] for tp in partitions)
        await reader.seek_to_beginning(*partitions)
        count, last_progress = 0, time.perf_counter()
        deadline = time.perf_counter() + deadline_s
        while count < expected:
            batches = await reader.getmany(timeout_ms=500, max_records=2000)
            got = sum(len(batch) for batch in batches.values())
            count, now = count + got, time.perf_counter()
            last_progress = now if got else last_progress
            if now - last_progress > STALL_S:
                raise Stalled(f"{count:,} of {expected:,} records, then nothing for {STALL_S} s")
            if now > deadline:
                raise StageTimeout(
                    f"bare aiokafka read {count:,} of {expected:,} records in {deadline_s:.0f} s"
                )
        return count, count / (time.perf_counter() - started)
    finally:
        await reader.stop()


def dashboard_topics() -> list[str]:
    """What the dashboard projects, as `rebuild` reads it."""
    return [topic.name for topic in SUBSCRIPTIONS["dashboard"]]


def dashboard_rebuild(bootstrap: str, deadline_s: float = STAGE_DEADLINE_S) -> tuple[int, float]:
    """`carepath-dashboard rebuild` into a fresh SQLite file; (events applied, events/s by the
    wall clock less the tool's start-up, timed on its `--help`)."""
    database = BENCH_VAR / "dashboard.db"
    command = [
        str(TOOLS / "carepath-dashboard"), "rebuild", "--database", f"sqlite:///{database}",
        "--bootstrap-servers", bootstrap, "--keys-dir", str(BENCH_VAR / "keys"),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run([*command[:2], "--help"], capture_output=True, check=True)  # noqa: S603 (fixed argv)
    start_up = time.perf_counter() - started
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (fixed argv)
        command, capture_output=True, text=True, check=False, timeout=deadline_s
    )
    elapsed = time.perf_counter() - started - start_up
    found = re.search(r"rebuilt: (\d+) events applied", result.stdout + result.stderr)
    if result.returncode != 0 or not found:
        raise RuntimeError(f"carepath-dashboard rebuild failed:\n{result.stdout}\n{result.stderr}")
    return int(found.group(1)), int(found.group(1)) / elapsed


def consumer_performance(bootstrap: str, topic: str, messages: int) -> float:
    """Kafka's ConsumerPerformance over `topic`; messages/s while fetching (rebalance excluded,
    as our readers assign partitions and never rebalance)."""
    command = [
        "java", "-cp", str(JARS), "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", bootstrap, "--topic", topic, "--messages", str(messages),
        "--timeout", "60000",
    ]  # fmt: skip
    lines = subprocess.run(  # noqa: S603 (fixed argv)
        command, check=True, capture_output=True, text=True, timeout=STAGE_DEADLINE_S
    ).stdout
    header, values = [line for line in lines.strip().splitlines() if "," in line][-2:]
    columns = dict(zip((h.strip() for h in header.split(",")), values.split(","), strict=True))
    return float(columns["fetch.nMsg.sec"])
