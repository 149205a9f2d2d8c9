"""Dead letters are operable: `carepath-dlq list | show | replay` per consumer, with the reason and
the original location, never the content; a replay sends each waiting dead letter back once, for
its consumer only, which then applies it; the dashboard counts them as the tool does."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from kafka import KafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.consumer import EventConsumer, RetryPolicy
from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.dead_letter_counts import (
    DeadLetterTopic,
    count_dead_letters,
    system_dead_letter_topics,
)
from carepath.chassis.dead_letters import REDRIVE_HEADER, DeadLetterRecord, record_key
from carepath.chassis.kafka import client_config, ensure_topics, make_broker
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import CloudEvent, PatientReferred, dlq_topic
from carepath.contracts.topics import INTAKE_EVENTS
from carepath.dashboard.service import dead_letter_backlog
from support import end_offsets, eventually, free_port, read_to_end

pytestmark = pytest.mark.broker

PATIENT_NAME = "Zephyrine"  # in the dead letters' values only: never in the tool's output


def dlq(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `carepath-dlq` as an operator would, in its own process (wide, so no cell wraps)."""
    return subprocess.run(
        [sys.executable, "-m", "carepath.chassis.dlq_cli", *args, "--bootstrap-servers", bootstrap],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "300"},
        check=False,
    )


def dlq_json(bootstrap: str, *args: str) -> Any:
    done = dlq(bootstrap, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def referral_event(subject: str) -> CloudEvent:
    data = PatientReferred(
        patient_id=uuid4(),
        given_name=PATIENT_NAME,
        family_name="Quill",
        date_of_birth=date(1984, 2, 29),
        referral_reason="depression",
        referrer="Dr Hale",
    ).model_dump(mode="json")
    return CloudEvent(
        id=uuid4(),
        source="/carepath/intake",
        type=PatientReferred.event_type(),
        time=datetime(2026, 11, 25, 9, tzinfo=UTC),
        subject=subject,
        data=data,
        sequence=1,
        streamid=f"intake-{subject}",
        correlationid="c",
        actor="intake_coordinator:u",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def dead_letter_headers(
    consumer: str, event: CloudEvent | None, source_offset: int
) -> list[tuple[str, bytes]]:
    """Headers as `EventConsumer` writes them: the original ones plus where and why."""
    original = event.kafka_headers() if event else {}
    return [
        (name, value.encode())
        for name, value in {
            **original,
            "dlq_consumer": consumer,
            "dlq_error_type": "OverflowError",
            "dlq_error": "date value out of range",
            "dlq_attempts": "3",
            "dlq_at": datetime.now(UTC).isoformat(),
            "dlq_source_topic": INTAKE_EVENTS.name,
            "dlq_source_partition": "0",
            "dlq_source_offset": str(source_offset),
        }.items()
    ]


def put_dead_letters(bootstrap: str, consumer: str, letters: list[tuple[bytes, Any]]) -> None:
    """Publish `(value, headers)` pairs to the consumer's dead-letter topic, in one partition."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for value, headers in letters:
            topic = dlq_topic(INTAKE_EVENTS, consumer).name
            producer.send(topic, value=value, key=b"k", headers=headers, partition=0).get(30)
    finally:
        producer.close()


def row_of(listed: list[dict[str, Any]], consumer: str) -> dict[str, Any] | None:
    return next((row for row in listed if row["consumer"] == consumer), None)


def waiting(bootstrap: str, consumer: str) -> int:
    """How many of the consumer's dead letters `list` says wait for a replay."""
    row = row_of(dlq_json(bootstrap, "list"), consumer)
    assert row is not None, f"{consumer} not listed"
    return int(row["waiting"])


def redriven(bootstrap: str, start: Any, consumer: str) -> list[Any]:
    """The records sent back to the intake topic for `consumer` since `start`."""
    return [
        record
        for record in read_to_end(bootstrap, start)
        if (REDRIVE_HEADER, consumer.encode()) in record.headers
    ]


def test_dead_letters_are_listed_shown_and_replayed_once(kafka_bootstrap: str) -> None:
    consumer = f"probe-{uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [dlq_topic(INTAKE_EVENTS, consumer)])
    events = [referral_event(str(uuid4())) for _ in range(2)]
    put_dead_letters(
        kafka_bootstrap,
        consumer,
        [(e.to_json(), dead_letter_headers(consumer, e, 40 + i)) for i, e in enumerate(events)],
    )
    source_start = end_offsets(kafka_bootstrap, INTAKE_EVENTS.name)

    # list: one row for the consumer's intake dead letters, both waiting
    row = row_of(dlq_json(kafka_bootstrap, "list"), consumer)
    assert row is not None
    assert (row["topic"], row["total"], row["waiting"]) == (INTAKE_EVENTS.name, 2, 2)
    listed = dlq(kafka_bootstrap, "list")
    assert listed.returncode == 0 and consumer in listed.stdout

    # show: where each came from, why, and which event; never the value
    shown = dlq(kafka_bootstrap, "show", consumer, "--topic", INTAKE_EVENTS.name)
    assert shown.returncode == 0, shown.stderr
    assert "OverflowError: date value out of range" in shown.stdout
    assert f"{INTAKE_EVENTS.name}[0]@40" in shown.stdout
    assert str(events[1].id) in shown.stdout
    assert PATIENT_NAME not in shown.stdout + shown.stderr
    letters = dlq_json(kafka_bootstrap, "show", consumer)
    assert [(d["event_id"], d["source_offset"], d["replayed"]) for d in letters] == [
        (str(events[0].id), 40, False),
        (str(events[1].id), 41, False),
    ]
    assert PATIENT_NAME not in json.dumps(letters)

    # a dry run sends nothing and marks nothing
    dry = dlq(kafka_bootstrap, "replay", consumer, "--dry-run")
    assert dry.returncode == 0 and "2 would be replayed" in dry.stdout, dry.stdout
    assert waiting(kafka_bootstrap, consumer) == 2

    # replay: both back on the intake topic, for this consumer, as they were
    replayed = dlq(kafka_bootstrap, "replay", consumer)
    assert replayed.returncode == 0, replayed.stderr
    assert f"{consumer}: 2 replayed, 0 skipped" in replayed.stdout
    assert PATIENT_NAME not in replayed.stdout + replayed.stderr
    back = redriven(kafka_bootstrap, source_start, consumer)
    assert [CloudEvent.from_json(r.value) for r in back] == events
    assert [r.key for r in back] == [b"k", b"k"] and {r.partition for r in back} == {0}
    headers = dict((k, v.decode()) for k, v in back[0].headers)
    assert (
        headers["carepath_id"] == str(events[0].id)
        and headers["traceparent"] == events[0].traceparent
    )
    assert not [name for name in headers if name.startswith("dlq_")]

    # a second replay sends nothing
    again = dlq(kafka_bootstrap, "replay", consumer)
    assert again.returncode == 0 and f"{consumer}: 0 replayed" in again.stdout
    assert len(redriven(kafka_bootstrap, source_start, consumer)) == 2

    row = row_of(dlq_json(kafka_bootstrap, "list"), consumer)
    assert row is not None and (row["total"], row["waiting"]) == (2, 0)
    assert [d["replayed"] for d in dlq_json(kafka_bootstrap, "show", consumer)] == [True, True]
    [counted] = count_dead_letters(
        client_config(ServiceSettings(service_name="t", kafka_bootstrap_servers=kafka_bootstrap)),
        [DeadLetterTopic.of(INTAKE_EVENTS, consumer)],
    )
    assert (counted.total, counted.waiting) == (2, 0)  # what the dashboard would show


def test_replay_holds_at_a_record_that_is_not_a_cloudevent_and_sends_each_event_once(
    kafka_bootstrap: str,
) -> None:
    consumer = f"probe-{uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [dlq_topic(INTAKE_EVENTS, consumer)])
    event = referral_event(str(uuid4()))
    put_dead_letters(
        kafka_bootstrap,
        consumer,
        [
            (b"not a cloudevent " + PATIENT_NAME.encode(), dead_letter_headers(consumer, None, 7)),
            (event.to_json(), dead_letter_headers(consumer, event, 8)),
            (event.to_json(), dead_letter_headers(consumer, event, 9)),  # dead-lettered twice
        ],
    )
    source_start = end_offsets(kafka_bootstrap, INTAKE_EVENTS.name)

    held = dlq(kafka_bootstrap, "replay", consumer)
    assert held.returncode == 3, held.stdout + held.stderr
    assert "held at" in held.stderr and "0 replayed" in held.stdout
    assert waiting(kafka_bootstrap, consumer) == 3

    passed = dlq(kafka_bootstrap, "replay", consumer, "--skip-unreadable")
    assert passed.returncode == 0, passed.stderr
    assert (
        f"{consumer}: 1 replayed, 2 skipped (already sent in this run: 1; not CloudEvents: 1)"
        in passed.stdout
    )
    assert PATIENT_NAME not in passed.stdout + passed.stderr
    assert len(redriven(kafka_bootstrap, source_start, consumer)) == 1
    assert waiting(kafka_bootstrap, consumer) == 0


def test_brokers_that_do_not_answer_are_named_with_exit_status_1() -> None:
    nobody = f"127.0.0.1:{free_port()}"
    done = dlq(nobody, "list", "--timeout", "1")
    assert done.returncode == 1
    assert f"Kafka at {nobody} (PLAINTEXT) did not answer" in " ".join(done.stderr.split())


def test_the_dashboard_counts_the_dead_letters_of_every_consumer(kafka_bootstrap: str) -> None:
    settings = ServiceSettings(service_name="dashboard", kafka_bootstrap_servers=kafka_bootstrap)
    rows = dead_letter_backlog(client_config(settings))
    assert [(r["consumer"], r["topic"]) for r in rows] == [
        (t.consumer, t.source) for t in system_dead_letter_topics()
    ]
    assert {"eligibility", "session", "integration", "dashboard", "audit"} == {
        r["consumer"] for r in rows
    }
    assert all(0 <= r["waiting"] <= r["total"] for r in rows)


async def test_a_replayed_dead_letter_is_applied_by_its_consumer_after_the_fix(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = uuid4().hex[:8]
    name = f"probe-{run}"
    fixed = False
    tries = 0
    applied: list[str] = []

    async def effect(session: AsyncSession, event: CloudEvent) -> None:
        nonlocal tries
        if event.subject != run:
            return  # the topic's other records, from other tests
        tries += 1
        if not fixed:
            raise OverflowError("date value out of range")  # the bug
        applied.append(str(event.id))

    engine = create_engine(f"sqlite:///{tmp_path / 'probe.db'}")
    await create_tables(engine)
    settings = ServiceSettings(service_name="probe", kafka_bootstrap_servers=kafka_bootstrap)
    broker = make_broker(settings)
    retry = RetryPolicy(attempts=2, backoff_s=0.05, max_pause_s=1)
    # the probe's record is unsigned: provenance is tested in test_forged_records
    consumer = EventConsumer(
        engine, broker, name, INTAKE_EVENTS, effect, retry=retry, check_provenance=False
    )
    ensure_topics(kafka_bootstrap, [consumer.dead_letter_topic])
    event = referral_event(run)
    key = record_key(event.id, event.to_json())  # how the consumer knows this record
    await broker.start()
    try:
        await broker.publish(
            event.to_json(),
            topic=INTAKE_EVENTS.name,
            key=run.encode(),
            headers=event.kafka_headers(),
        )
        # (the topic may hold other tests' poison: this consumer dead-letters that too)
        await eventually(lambda: tries >= retry.attempts, within=60, what="the failing tries")
        await eventually(
            lambda: consumer.dead_letters.unresolved([key]), within=30, what="its dead letter"
        )
        tries_before_the_fix = tries
        dead_lettered = consumer.dead_lettered_total

        fixed = True  # the fix is deployed
        done = await asyncio.to_thread(dlq, kafka_bootstrap, "replay", name, "--skip-unreadable")
        assert done.returncode == 0 and f"{name}: 1 replayed" in done.stdout, done.stderr
        await eventually(lambda: applied, within=60, what="the replayed event to be applied")

        async def resolved() -> bool:  # once applied
            return not await consumer.dead_letters.unresolved([key])

        await eventually(resolved, within=30, what="the dead letter to be resolved")

        again = await asyncio.to_thread(dlq, kafka_bootstrap, "replay", name, "--skip-unreadable")
        assert f"{name}: 0 replayed" in again.stdout
    finally:
        await broker.stop()

    assert applied == [str(event.id)]
    assert tries == tries_before_the_fix + 1
    assert consumer.dead_lettered_total == dead_lettered  # not dead-lettered again
    assert await consumer.dead_letters.unresolved([key]) == set()
    async with AsyncSession(engine) as session:
        letter = await session.get(DeadLetterRecord, (name, key))
    assert letter is not None and letter.resolved_at is not None
    await engine.dispose()
