"""A consumer continues the request's trace, applies each event once, and dead-letters poison."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carepath.chassis.auth import Role
from carepath.chassis.consumer import EventConsumer
from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.kafka import ensure_topics, make_broker
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import CloudEvent, PatientReferred, registry
from carepath.contracts.topics import INTAKE_EVENTS
from support import ServiceProcess, end_offsets, read_records, token

pytestmark = pytest.mark.broker

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
REFERRAL = {
    "given_name": "Iris",
    "family_name": "Vale",
    "date_of_birth": "1990-07-01",
    "referral_reason": "anxiety",
    "referrer": "Dr Hale",
}


@pytest.fixture
async def probe_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'probe.db'}")
    await create_tables(engine)
    yield engine
    await engine.dispose()


async def test_a_consumer_continues_the_trace_and_dead_letters_poison_without_stopping(
    intake_service: ServiceProcess, kafka_bootstrap: str, probe_engine: AsyncEngine
) -> None:
    from opentelemetry import trace

    from carepath.chassis.telemetry import setup_tracing

    setup_tracing("probe")
    seen: dict[str, list[str]] = {}
    span_attributes: dict[str, dict[str, object]] = {}
    arrived = asyncio.Event()
    wanted: set[str] = set()

    async def note_trace(_session: AsyncSession, event: CloudEvent) -> None:
        if event.type == PatientReferred.event_type():
            registry.parse(event.type, event.data)  # a payload that breaks the schema is poison
        span = trace.get_current_span()
        trace_id = format(span.get_span_context().trace_id, "032x")
        seen.setdefault(event.subject, []).append(trace_id)
        span_attributes[event.subject] = dict(getattr(span, "attributes", {}))
        if wanted and wanted <= seen.keys():
            arrived.set()

    settings = ServiceSettings(service_name="probe", kafka_bootstrap_servers=kafka_bootstrap)
    broker = make_broker(settings)
    name = f"probe-{uuid4().hex[:8]}"
    # unsigned poison must reach the schema check: provenance is tested in test_forged_records
    consumer = EventConsumer(
        probe_engine, broker, name, INTAKE_EVENTS, note_trace, check_provenance=False
    )
    ensure_topics(kafka_bootstrap, [consumer.dead_letter_topic])
    dlq_start = end_offsets(kafka_bootstrap, consumer.dead_letter_topic.name)
    await broker.start()
    try:
        # Poison first: not JSON, and a CloudEvent whose payload breaks PatientReferred.
        await broker.publish(b"not a cloudevent", topic=INTAKE_EVENTS.name, key=b"poison-1")
        bad = {
            "specversion": "1.0",
            "id": str(uuid4()),
            "source": "/carepath/intake",
            "type": PatientReferred.event_type(),
            "time": "2026-11-25T09:00:00Z",
            "subject": "poison-2",
            "datacontenttype": "application/json",
            "data": {"patient_id": "x"},
            "sequence": 1,
            "streamid": "intake-x",
            "correlationid": "c",
            "actor": "clinician:u",
        }
        await broker.publish(json.dumps(bad).encode(), topic=INTAKE_EVENTS.name, key=b"poison-2")

        # Then a real referral over HTTP, with the caller's trace context.
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{intake_service.url}/patients",
                json=REFERRAL,
                headers={
                    **token(Role.INTAKE_COORDINATOR),
                    "traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01",
                },
            )
        assert response.status_code == 201
        patient_id = response.json()["patient_id"]
        wanted.add(patient_id)
        if wanted <= seen.keys():  # it may have been applied while the request was answered
            arrived.set()

        await asyncio.wait_for(arrived.wait(), timeout=60)
        assert seen[patient_id] == [TRACE_ID]
        # The span says where the record was read and which event it carried.
        attributes = span_attributes[patient_id]
        assert attributes["messaging.system"] == "kafka"
        assert attributes["messaging.destination.name"] == INTAKE_EVENTS.name
        assert attributes["messaging.consumer.group.name"] == f"carepath.{name}"
        assert isinstance(attributes["messaging.kafka.offset"], int)
        assert attributes["messaging.destination.partition.id"] in {str(p) for p in range(6)}
        assert attributes["cloudevents.event_source"] == "/carepath/intake"
        assert attributes["cloudevents.event_type"] == PatientReferred.event_type()
        assert attributes["cloudevents.event_id"] == attributes["messaging.message.id"]

        # (other tests' poison on the topic is dead-lettered too, under other keys)
        ours = {b"poison-1", b"poison-2"}
        # in a thread: a blocking read here would stall the event loop the consumer runs on
        dead = await asyncio.to_thread(
            read_records, kafka_bootstrap, dlq_start, until=lambda rs: {r.key for r in rs} >= ours
        )
        by_key = {r.key: {k: v.decode() for k, v in r.headers} for r in dead if r.key in ours}
        assert set(by_key) == ours
        assert by_key[b"poison-1"]["dlq_error_type"] == "ValidationError"
        assert by_key[b"poison-2"]["dlq_consumer"] == name
        assert by_key[b"poison-2"]["dlq_source_topic"] == INTAKE_EVENTS.name
        assert "patient_id" in by_key[b"poison-2"]["dlq_error"]
        assert consumer.dead_lettered_total >= 2
    finally:
        await broker.stop()
