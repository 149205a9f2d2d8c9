"""The CloudEvents envelope and the topic registry."""

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from carepath.chassis.store import RecordedEvent
from carepath.contracts import (
    ALL_TOPICS,
    CloudEvent,
    PatientReferred,
    dlq_topic,
    parse_actor,
    registry,
    topic_named,
)


def recorded(patient_id: str) -> RecordedEvent:
    data = PatientReferred(
        patient_id=patient_id,
        given_name="Ada",
        family_name="Byron",
        date_of_birth=date(1985, 12, 10),
        referral_reason="depression",
        referrer="Dr Lee",
    ).model_dump(mode="json")
    return RecordedEvent(
        position=7,
        stream_id=f"intake-{patient_id}",
        sequence=1,
        event_id=uuid4(),
        event_type="carepath.intake.PatientReferred.v1",
        subject=patient_id,
        payload=data,
        metadata={
            "source": "/carepath/intake",
            "actor": "clinician:u1",
            "correlation_id": "c1",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
        recorded_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
    )


def test_a_stored_event_becomes_a_cloudevent_that_round_trips_through_json() -> None:
    patient_id = str(uuid4())
    event = recorded(patient_id).to_cloud_event()

    decoded = CloudEvent.from_json(event.to_json())

    assert decoded == event
    assert b'"time":"2026-11-25T09:30:00Z"' in event.to_json()
    assert b"prevhash" not in event.to_json()  # absent attributes are left out, not null
    assert event.kafka_key() == patient_id.encode()
    assert event.kafka_headers() == {
        "content-type": "application/cloudevents+json",
        "carepath_type": "carepath.intake.PatientReferred.v1",
        "carepath_id": str(event.id),
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    assert isinstance(registry.parse(event.type, event.data), PatientReferred)


def test_a_cloudevent_with_a_malformed_type_is_rejected_naming_the_attribute() -> None:
    document = recorded(str(uuid4())).to_cloud_event().model_dump(mode="json")
    document["type"] = "PatientReferred"

    with pytest.raises(ValidationError) as raised:
        CloudEvent.model_validate(document)

    assert raised.value.errors()[0]["loc"] == ("type",)


def test_sequence_starts_at_one() -> None:
    document = recorded(str(uuid4())).to_cloud_event().model_dump(mode="json")
    with pytest.raises(ValidationError):
        CloudEvent.model_validate({**document, "sequence": 0})


def test_actor_carries_role_and_user() -> None:
    assert parse_actor("intake_coordinator:nina@clinic") == ("intake_coordinator", "nina@clinic")


def test_the_registry_names_every_context_topic_and_their_dead_letter_topics() -> None:
    assert [t.name for t in ALL_TOPICS] == [
        "carepath.intake.events",
        "carepath.eligibility.events",
        "carepath.session.events",
        "carepath.integration.events",
        "carepath.access.events",
    ]
    assert all(t.config()["retention.ms"] == "-1" for t in ALL_TOPICS)
    intake = topic_named("carepath.intake.events")
    assert dlq_topic(intake, "eligibility").name == "carepath.intake.events.dlq.eligibility"
    assert PatientReferred.topic() is intake


def test_records_written_before_keep_being_routed_by_their_ce_headers() -> None:
    from carepath.contracts.envelope import ID_HEADER, TYPE_HEADER, routing_header

    before = {"content-type": "application/cloudevents+json", "ce_type": "t.v1", "ce_id": "1"}
    now = {"content-type": "application/cloudevents+json", "carepath_type": "t.v2"}
    assert (routing_header(before, TYPE_HEADER), routing_header(before, ID_HEADER)) == ("t.v1", "1")
    assert (routing_header(now, TYPE_HEADER), routing_header(now, ID_HEADER)) == ("t.v2", None)
    # Nothing sent now looks like a binary-mode CloudEvent attribute to the Kafka binding.
    event = recorded(str(uuid4())).to_cloud_event()
    assert not [name for name in event.kafka_headers() if name.lower().startswith("ce_")]
