"""`make bench`: measure CarePath's paths side by side with their references, print one table.

Starts its own Kafka broker and PostgreSQL on free ports (stopped on the way out), runs each
stage on fresh storage under var/bench/, and writes the table as JSON to var/bench/<time>.json.
No figure here is asserted: the table is evidence for the next performance work.
"""

import argparse
import asyncio
import shutil
import time
from contextlib import ExitStack

from reading import (
    audit_verify,
    bare_aiokafka,
    bare_kafka_python,
    consumer_performance,
    dashboard_rebuild,
    dashboard_topics,
)
from relay_path import create_topics, producer_performance, relay_everything
from report import Row, not_measured, print_table, write_json
from rich.console import Console
from servers import BENCH_VAR, bench_kafka, bench_postgres
from write_path import (
    average_event_size,
    refer_patients,
    reference_appends,
    reference_environment,
)

console = Console(width=None if Console().is_terminal else 140)
SQLITE_URL = f"sqlite:///{BENCH_VAR}/intake.db"
INTAKE_TOPIC = "carepath.intake.events"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument(
        "--events",
        type=int,
        default=20_000,
        help="events per stage: patients referred, relayed, read (20000)",
    )
    parser.add_argument(
        "--writers", type=int, default=8, help="concurrent writers on the write path (8)"
    )
    return parser.parse_args()


def write_path_rows(arguments: argparse.Namespace, postgres_url: str) -> tuple[list[Row], int]:
    """Row 1, on SQLite and PostgreSQL; returns the rows and the mean event size."""
    n, k = arguments.events, arguments.writers
    keys = BENCH_VAR / "keys"
    rows, size = [], 0
    for name, url in (("SQLite", SQLITE_URL), ("PostgreSQL", postgres_url)):
        console.print(f"write path on {name}: referring {n:,} patients with {k} writers")
        ours = asyncio.run(refer_patients(url, keys, n, k))
        size = size or asyncio.run(average_event_size(SQLITE_URL))
        console.print(f"  eventsourcing: {n:,} events of {size} bytes")
        environment = reference_environment(url, BENCH_VAR / "eventsourcing.db")
        reference = reference_appends(environment, n, size, k)
        rows.append(
            Row(
                f"write path, {name}: decide+append+commit (no HTTP)",
                ours,
                reference,
                "eventsourcing lib, same count and size",
                unit="commands/s",
                note=f"{k} concurrent writers; ours signs and hash-chains each event",
            )
        )
    return rows, size


def relay_rows(bootstrap: str, size: int) -> list[Row]:
    """Row 2: the SQLite store's outbox (the write path's events) drained to Kafka."""
    create_topics(bootstrap)
    console.print("relay: draining the SQLite event store to Kafka")
    published, ours = asyncio.run(relay_everything(SQLITE_URL, bootstrap))
    console.print(f"  ProducerPerformance: {published:,} records of {size} bytes")
    reference = producer_performance(bootstrap, published, size)
    return [
        Row(
            "relay: event store (SQLite) -> Kafka",
            ours,
            reference,
            "ProducerPerformance, same count/size",
            note="both idempotent, acks=all",
        )
    ]


def reading_rows(bootstrap: str, events: int) -> list[Row]:
    """Rows 3 and 4: reading the relayed log back."""
    console.print("audit verify, and a bare kafka-python consumer")
    verified, ours = audit_verify(bootstrap, INTAKE_TOPIC, BENCH_VAR / "keys")
    read, bare = bare_kafka_python(bootstrap, [INTAKE_TOPIC])
    rows = [
        Row(
            f"carepath-audit verify --topic {INTAKE_TOPIC}",
            ours,
            bare,
            "bare kafka-python consumer",
            note=f"{verified:,} events, 0 findings (bare read {read:,})",
        )
    ]
    console.print("dashboard rebuild, a bare aiokafka consumer, ConsumerPerformance")
    applied, ours = dashboard_rebuild(bootstrap)
    read, aiokafka = asyncio.run(bare_aiokafka(bootstrap, dashboard_topics()))
    java = consumer_performance(bootstrap, INTAKE_TOPIC, events)
    rows += [
        Row(
            "carepath-dashboard rebuild from offset 0",
            ours,
            aiokafka,
            "bare aiokafka consumer, same topics",
            note=f"{applied:,} events (bare read {read:,}); start-up excluded",
        ),
        Row(
            "carepath-dashboard rebuild from offset 0",
            ours,
            java,
            "ConsumerPerformance, fetch rate",
        ),
    ]
    return rows


def main() -> None:
    arguments = parse_arguments()
    started = time.perf_counter()
    shutil.rmtree(BENCH_VAR / "keys", ignore_errors=True)
    for stale in ("intake.db", "eventsourcing.db", "dashboard.db"):
        for suffix in ("", "-wal", "-shm"):
            (BENCH_VAR / f"{stale}{suffix}").unlink(missing_ok=True)
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    with ExitStack() as stack:
        postgres_url = stack.enter_context(bench_postgres())
        bootstrap = stack.enter_context(bench_kafka())
        console.print(f"PostgreSQL {postgres_url}, Kafka {bootstrap}")
        written, size = write_path_rows(arguments, postgres_url)
        rows += written
        rows += relay_rows(bootstrap, size)
        rows += reading_rows(bootstrap, arguments.events)
    rows += [
        not_measured("write path through HTTP, concurrent clients"),
        not_measured("end-to-end latency p50/p95/p99 at 50 and 500 commands/s"),
        not_measured("memory: RSS of each service at rest and under load"),
    ]
    elapsed = time.perf_counter() - started
    parameters = {
        "events": arguments.events,
        "writers": arguments.writers,
        "event_size_bytes": size,
        "run_seconds": round(elapsed, 1),
    }
    print_table(rows, f"CarePath bench ({arguments.events:,} events, {elapsed:.0f} s)", console)
    console.print(f"written to {write_json(rows, parameters, BENCH_VAR)}")


if __name__ == "__main__":
    main()
