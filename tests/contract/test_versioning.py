"""Versioning: a stored or published v1 event is read as the current v2 (the worked example)."""

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts import CloudEvent, registry
from carepath.contracts.events import UnknownEventType
from carepath.contracts.session import VitalsRecorded, VitalsRecordedV1

V1 = "carepath.session.VitalsRecorded.v1"
V2 = "carepath.session.VitalsRecorded.v2"


def v1_payload() -> dict[str, object]:
    return {
        "patient_id": str(uuid4()),
        "session_id": str(uuid4()),
        "measured_at": "2026-11-20T10:40:00+00:00",
        "blood_pressure": "152/94",
        "heart_rate": 88,
        "spo2": 97,
    }


def test_a_v1_event_is_read_as_v2() -> None:
    event = registry.parse(V1, v1_payload())

    assert isinstance(event, VitalsRecorded)
    assert (event.systolic, event.diastolic) == (152, 94)
    assert event.minutes_since_dose is None
    assert event.event_type() == V2


def test_the_newest_version_is_known_from_any_older_one() -> None:
    assert registry.latest(V1) == V2
    assert registry.latest(V2) == V2
    assert VitalsRecordedV1.name() == VitalsRecorded.name() == "VitalsRecorded"


def test_every_superseded_version_has_an_upcaster_to_a_registered_successor() -> None:
    registry.check_chains()


def test_a_malformed_v1_payload_is_rejected_before_upcasting() -> None:
    with pytest.raises(ValidationError) as raised:
        registry.parse(V1, {**v1_payload(), "blood_pressure": "high"})
    assert raised.value.errors()[0]["loc"] == ("blood_pressure",)


def test_an_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(UnknownEventType, match=r"VitalsRecorded\.v9"):
        registry.parse("carepath.session.VitalsRecorded.v9", v1_payload())


def test_a_v1_event_on_the_wire_is_read_as_v2() -> None:
    data = v1_payload()
    wire = CloudEvent(
        id=uuid4(),
        source="/carepath/session",
        type=V1,
        time=datetime.now(UTC),
        subject=str(data["patient_id"]),
        data=data,
        sequence=3,
        streamid=f"session-{data['patient_id']}",
        correlationid="c",
        actor="nurse:n-1",
    ).to_json()

    received = CloudEvent.from_json(wire)

    assert received.type == V1  # the log is never rewritten
    assert isinstance(registry.parse(received.type, received.data), VitalsRecorded)


async def test_a_v1_event_in_the_event_store_loads_as_v2(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    await create_tables(engine)
    try:
        store = EventStore(engine)
        old = VitalsRecordedV1.model_validate(v1_payload())
        stream = f"session-{old.patient_id}"
        await store.append(
            stream,
            0,
            [old],
            subject=str(old.patient_id),
            metadata=EventMetadata(
                source="/carepath/session", actor="nurse:n-1", correlation_id="c"
            ),
        )

        [recorded] = await store.load(stream)

        assert recorded.event_type == V1
        event = recorded.event()
        assert isinstance(event, VitalsRecorded)
        assert event.systolic == 152
    finally:
        await engine.dispose()
