"""One bad record never stalls a consumer: each kind of poison reaches the dead-letter topic after
its bounded tries, a redelivery is not dead-lettered twice, an outage is waited out without a
dead letter, and the records behind them on the same partition are applied."""

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carepath.chassis.consumer import EventConsumer, RetryPolicy
from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.kafka import ensure_topics, make_broker
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import CloudEvent, PatientReferred, registry
from carepath.contracts.intake import PatientReferredV1
from carepath.contracts.topics import INTAKE_EVENTS
from support import end_offsets, eventually, read_to_end

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    await create_tables(engine)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE probe_note (subject text, note text)"))
    yield engine
    await engine.dispose()


async def notes(engine: AsyncEngine, run: str) -> list[str]:
    """The kinds of the records whose effect was committed, in order."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT subject FROM probe_note WHERE subject LIKE :run ORDER BY ctid"),
            {"run": f"{run}:%"},
        )
        return [subject.split(":")[1] for (subject,) in rows]


def envelope(subject: str, event_type: str, data: dict[str, Any], event_id: str = "") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id or str(uuid4()),
            "source": "/carepath/intake",
            "type": event_type,
            "time": "2026-11-25T09:00:00Z",
            "subject": subject,
            "datacontenttype": "application/json",
            "data": data,
            "sequence": 1,
            "streamid": f"intake-{subject}",
            "correlationid": "c",
            "actor": "clinician:u",
        }
    ).encode()


def referral(given_name: str = "Iris") -> dict[str, Any]:
    return PatientReferred(
        patient_id=uuid4(),
        given_name=given_name,
        family_name="Vale",
        date_of_birth=date(1990, 7, 1),
        referral_reason="anxiety",
        referrer="Dr Hale",
    ).model_dump(mode="json")


async def test_poison_of_every_kind_is_dead_lettered_and_the_partition_moves_on(
    kafka_bootstrap: str, postgres_engine: AsyncEngine
) -> None:
    run = uuid4().hex[:8]
    calls: Counter[str] = Counter()
    applied: list[str] = []

    async def effect(session: AsyncSession, event: CloudEvent) -> None:
        if not event.subject.startswith(run):
            return  # the topic's other records, from other tests
        kind = event.subject.split(":")[1]
        calls[kind] += 1
        if kind == "overflow":
            raise OverflowError("date value out of range")
        if kind == "flaky" and calls[kind] == 1:
            raise ValueError("fails on the first try only")
        if kind == "outage" and calls[kind] <= 2:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database away"))
        data = registry.parse(event.type, event.data).model_dump(mode="json")
        await session.execute(
            text("INSERT INTO probe_note VALUES (:subject, :note)"),
            {"subject": event.subject, "note": data["given_name"]},
        )
        applied.append(kind)

    settings = ServiceSettings(service_name="probe", kafka_bootstrap_servers=kafka_bootstrap)
    broker = make_broker(settings)
    name = f"probe-{run}"
    retry = RetryPolicy(attempts=3, backoff_s=0.05, max_pause_s=1)
    # the probe's records are unsigned: provenance is tested in test_forged_records
    consumer = EventConsumer(
        postgres_engine, broker, name, INTAKE_EVENTS, effect, retry=retry, check_provenance=False
    )
    ensure_topics(kafka_bootstrap, [consumer.dead_letter_topic])
    dlq_start = end_offsets(kafka_bootstrap, consumer.dead_letter_topic.name)
    referred = PatientReferredV1.event_type()  # the version in clear: the probe reads a name
    overflow = envelope(f"{run}:overflow", referred, referral())
    records = [  # one key: one partition, in this order
        b"not a cloudevent",
        envelope(f"{run}:schema", referred, {"patient_id": "x"}),
        envelope(f"{run}:unknown", "carepath.intake.NoSuchEvent.v1", referral()),
        overflow,
        envelope(f"{run}:nul", referred, referral(given_name="Ir\x00is")),
        envelope(f"{run}:flaky", referred, referral()),
        envelope(f"{run}:outage", referred, referral()),
        envelope(f"{run}:good1", referred, referral()),
        overflow,  # redelivered: the same record again
        envelope(f"{run}:good2", referred, referral()),
    ]
    await broker.start()
    try:
        for value in records:
            await broker.publish(value, topic=INTAKE_EVENTS.name, key=run.encode())

        await eventually(lambda: "good2" in applied, within=60, what="the last record's effect")

        # What was committed (an effect may run in a batch that is then rolled back and retried)
        async def last_committed() -> list[str] | None:
            committed = await notes(postgres_engine, run)
            return committed if committed[-1:] == ["good2"] else None

        committed = await eventually(last_committed, within=30, what="the last commit")
    finally:
        await broker.stop()

    assert committed == ["flaky", "outage", "good1", "good2"]
    # Three tries alone (plus, at most, the try of the batch it came in); the redelivered copy
    # was not tried again.
    assert 3 <= calls["overflow"] <= 4
    assert calls["outage"] == 3  # waited out, never dead-lettered
    # (the topic's poison from other tests is dead-lettered too, under other keys)
    dead = [r for r in read_to_end(kafka_bootstrap, dlq_start) if r.key == run.encode()]
    letters = [{k: v.decode() for k, v in record.headers} for record in dead]
    assert [(h["dlq_error_type"], h["dlq_attempts"]) for h in letters] == [
        ("ValidationError", "1"),
        ("ValidationError", "1"),
        ("UnknownEventType", "1"),
        ("OverflowError", "3"),
        ("DataError", "3"),  # PostgreSQL refuses the NUL
    ]
    assert {h["dlq_source_topic"] for h in letters} == {INTAKE_EVENTS.name}
    assert all(h["dlq_consumer"] == name for h in letters)
    every_header = json.dumps(letters)
    assert "Iris" not in every_header and "Ir\\u0000is" not in every_header  # no patient data
    assert len(dead) == 5
