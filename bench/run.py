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

from live import http_throughput, latency, percentiles, quiet, rss_mb, start_services
from reading import (
    audit_verify,
    bare_aiokafka,
    bare_kafka_python,
    consumer_performance,
    dashboard_rebuild,
    dashboard_topics,
    signature_checks,
)
from relay_path import create_topics, producer_performance, relay_everything
from report import Row, append_csv, last_run, print_table, write_json
from rich.console import Console
from sealing import reading, write_path
from servers import BENCH_VAR, bench_kafka, bench_postgres, fresh_database
from synthetic import publish_referrals
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
    parser.add_argument(
        "--latency-seconds", type=float, default=10.0, help="length of each latency run (10)"
    )
    parser.add_argument(
        "--stages",
        default="write,relay,reading,live",
        help="stages to run, comma-separated (write,relay,reading,live); relay and reading "
        "read what the write stage stored",
    )
    parser.add_argument(
        "--rebuild-events",
        type=int,
        default=0,
        help="instead of the stages: a dashboard rebuild of this many referrals, made straight "
        "onto a fresh log (e.g. 1000000)",
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
                note=f"{k} concurrent writers, group commit; ours seals, signs and hash-chains "
                "each event",
                target_ratio=1.0 if name == "SQLite" else 2.0,
            )
        )
    return rows, size


def sealing_rows(arguments: argparse.Namespace) -> tuple[list[Row], dict[str, float]]:
    """The cost of sealing patient data, on the write path and on reading (target: < 10%)."""
    n, k = max(arguments.events // 10, 500), arguments.writers
    url = f"sqlite:///{BENCH_VAR}/sealing-intake.db"
    console.print(f"sealing: {n:,} referrals sealed, and with sealing off")
    written = write_path(url, BENCH_VAR / "keys", n, k)
    read = reading(max(arguments.events, 2000))
    cost = "cost {:.0%} (target under 10%)"
    rows = [
        Row(
            "sealing on the write path, SQLite: referrals (a new patient)",
            written["referrals"],
            written["referrals, clear"],
            "the same, sealing off",
            unit="commands/s",
            note=cost.format(1 - written["referrals"] / written["referrals, clear"])
            + "; one more INSERT (the new key), AES 25 us",
        ),
        Row(
            "sealing on the write path, SQLite: consent withdrawn with a reason",
            written["withdrawals"],
            written["withdrawals, clear"],
            "the same, sealing off",
            unit="commands/s",
            note=cost.format(1 - written["withdrawals"] / written["withdrawals, clear"])
            + "; the stream opened, the reason sealed, the key in memory",
        ),
        Row(
            "reading a sealed referral with its key (a service's own stream)",
            read["opened"],
            read["clear"],
            "validating it stored in clear",
            note=f"{(1 / read['opened'] - 1 / read['clear']) * 1e6:.0f} us more per event: "
            "decrypt + validate (its share of a command or a rebuild: the rows around)",
        ),
        Row(
            "reading a sealed referral without a key (projections, rebuild)",
            read["masked"],
            read["clear"],
            "validating it stored in clear",
            note=f"{(1 / read['masked'] - 1 / read['clear']) * 1e6:.0f} us more per event",
        ),
    ]
    return rows, read


def sealing_share_of_rebuild(rows: list[Row], read: dict[str, float]) -> Row:
    """What reading sealed events (without a key) costs a dashboard rebuild: the rebuild's
    measured rate, against the rate it would have with each event's extra reading cost gone."""
    rebuild = next(r.ours for r in rows if r.what.startswith("carepath-dashboard rebuild"))
    extra = 1 / read["masked"] - 1 / read["clear"]  # seconds per event
    clear = 1 / (1 / rebuild - extra) if rebuild else None
    return Row(
        "sealing on the dashboard rebuild",
        rebuild,
        clear,
        "the same without the cost of sealed fields (estimated)",
        note=f"cost {extra * rebuild:.1%} (target under 10%): per-event cost of reading sealed",
    )


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
            target_ratio=0.6,
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
            note=f"{verified:,} events, 0 findings (bare read {read:,}); signatures checked on "
            "every core",
            target_ratio=0.6,
        )
    ]
    console.print("dashboard rebuild, a bare aiokafka consumer, ConsumerPerformance")
    applied, ours = dashboard_rebuild(bootstrap)
    console.print(f"  rebuild: {applied:,} events at {ours:,.0f}/s; now the bare aiokafka read")
    read, aiokafka = asyncio.run(bare_aiokafka(bootstrap, dashboard_topics()))
    java = consumer_performance(bootstrap, INTAKE_TOPIC, events)
    checked, floor = signature_checks(bootstrap, dashboard_topics(), BENCH_VAR / "keys")
    rows += [
        Row(
            "carepath-dashboard rebuild from offset 0",
            ours,
            aiokafka,
            "bare aiokafka consumer, same topics",
            note=f"{applied:,} events (bare read {read:,}); start-up excluded",
            target_ratio=0.5,
        ),
        Row(
            "carepath-dashboard rebuild from offset 0",
            ours,
            floor,
            "its signature checks alone, every core",
            note=f"{checked:,} records: the most any rebuild that checks them can do here",
        ),
        Row(
            "carepath-dashboard rebuild from offset 0",
            ours,
            java,
            "ConsumerPerformance, fetch rate",
        ),
    ]
    return rows


def live_rows(
    bootstrap: str, postgres_url: str, postgres_write_path: float | None, seconds: float
) -> list[Row]:
    """Rows 5 and 6: the HTTP write path, end-to-end latency, memory, with services running
    (intake on PostgreSQL, as in production; the dashboard on SQLite)."""
    console.print("services: intake (PostgreSQL) and dashboard as processes")
    dashboard = f"sqlite:///{BENCH_VAR / 'services' / 'dashboard.db'}"  # the watcher reads it
    services = start_services(bootstrap, fresh_database(postgres_url, "bench_intake"), dashboard)
    try:
        at_rest = {name: rss_mb(service) for name, service in services.items()}
        console.print("HTTP write path: 2,000 referrals from 32 clients")
        http = asyncio.run(http_throughput(services["intake"], 2_000, 32))
        rows = [
            Row(
                "write path through HTTP (intake, 32 concurrent clients)",
                http,
                postgres_write_path,
                "write path without HTTP (PostgreSQL, above)",
                unit="commands/s",
                note="auth, validation, decide, append (PostgreSQL), response",
            )
        ]
        peak = dict(at_rest)
        for rate in (50, 500):
            waited = asyncio.run(quiet(services["intake"], services["dashboard"], 300))
            console.print(
                f"end-to-end latency at {rate} commands/s for {seconds:.0f} s "
                f"(quiet after {waited:.1f} s: outbox empty, dashboard lag 0)"
            )
            samples, sent = asyncio.run(
                latency(services["intake"], services["dashboard"], rate, seconds)
            )
            peak = {name: max(peak[name], rss_mb(service)) for name, service in services.items()}
            p50, p95, p99 = percentiles(samples) if len(samples) > 1 else (float("nan"),) * 3
            rows.append(
                Row(
                    f"end-to-end latency at {rate} commands/s, p99 (HTTP response -> dashboard)",
                    p99,
                    None,
                    "",
                    unit="ms",
                    note=f"p50 {p50:,.0f} ms, p95 {p95:,.0f} ms; "
                    f"{len(samples):,} of {sent:,} seen; started quiet; intake on PostgreSQL",
                    target_at_most=50 if rate == 50 else 250,
                )
            )
        rows += [
            Row(
                f"memory: {name} RSS, peak under the latency load",
                peak[name],
                at_rest[name],
                "RSS at rest",
                unit="MB",
                target_at_most=150,
            )
            for name in services
        ]
        return rows
    finally:
        for service in services.values():
            service.stop()


def large_rebuild_rows(total: int) -> list[Row]:
    """The rebuild of a log of `total` referrals, against a bare aiokafka read of it."""
    with bench_kafka() as bootstrap:
        create_topics(bootstrap)
        console.print(f"making and producing {total:,} signed referrals")
        made = asyncio.run(publish_referrals(bootstrap, INTAKE_TOPIC, BENCH_VAR / "keys", total))
        console.print(f"  in {made:.0f} s; now the rebuild")
        applied, ours = dashboard_rebuild(bootstrap, deadline_s=3600)
        console.print(f"  rebuild: {applied:,} events at {ours:,.0f}/s; now the bare read")
        read, aiokafka = asyncio.run(bare_aiokafka(bootstrap, dashboard_topics(), deadline_s=3600))
    return [
        Row(
            f"carepath-dashboard rebuild of {total:,} events",
            ours,
            aiokafka,
            "bare aiokafka consumer, same topics",
            note=f"{applied:,} events in {applied / ours:,.0f} s (target under 120 s); "
            f"bare read {read:,}",
            target_ratio=0.5,
        )
    ]


def main() -> None:
    arguments = parse_arguments()
    if arguments.rebuild_events:
        rows = large_rebuild_rows(arguments.rebuild_events)
        results = BENCH_VAR / "results.csv"
        previous = last_run(results, arguments.rebuild_events)
        print_table(
            rows, f"CarePath rebuild ({arguments.rebuild_events:,} events)", console, previous
        )
        append_csv(rows, {"events": arguments.rebuild_events}, results)
        return
    started = time.perf_counter()
    shutil.rmtree(BENCH_VAR / "keys", ignore_errors=True)
    for stale in BENCH_VAR.glob("sealing-*"):
        stale.unlink()
    for stale in ("intake.db", "eventsourcing.db", "dashboard.db"):
        for suffix in ("", "-wal", "-shm"):
            (BENCH_VAR / f"{stale}{suffix}").unlink(missing_ok=True)
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    with ExitStack() as stack:
        postgres_url = stack.enter_context(bench_postgres())
        bootstrap = stack.enter_context(bench_kafka())
        console.print(f"PostgreSQL {postgres_url}, Kafka {bootstrap}")
        stages = set(arguments.stages.split(","))
        written, size = write_path_rows(arguments, postgres_url)
        rows += written
        if "write" in stages:
            sealing, read = sealing_rows(arguments)
            rows += sealing
        if "relay" in stages or "reading" in stages:
            rows += relay_rows(bootstrap, size)
        if "reading" in stages:
            rows += reading_rows(bootstrap, arguments.events)
            if "write" in stages:
                rows.append(sealing_share_of_rebuild(rows, read))
        if "live" in stages:
            rows += live_rows(bootstrap, postgres_url, written[1].ours, arguments.latency_seconds)
    elapsed = time.perf_counter() - started
    parameters = {
        "events": arguments.events,
        "writers": arguments.writers,
        "event_size_bytes": size,
        "run_seconds": round(elapsed, 1),
    }
    results = BENCH_VAR / "results.csv"
    previous = last_run(results, arguments.events)
    title = f"CarePath bench ({arguments.events:,} events, {elapsed:.0f} s)"
    print_table(rows, title, console, previous)
    append_csv(rows, parameters, results)
    console.print(f"written to {write_json(rows, parameters, BENCH_VAR)}; appended to {results}")


if __name__ == "__main__":
    main()
