"""Records on CarePath's topics are read correctly by the official CloudEvents SDKs' Kafka
bindings, Python's and JavaScript's, as downstream services would read them: real records,
published by the intake service through its outbox, read back from the broker."""

import json
import shutil
import subprocess
from typing import Any

import httpx
import pytest
from clinic import referral
from cloudevents.core.bindings import kafka as cloudevents_kafka
from cloudevents.core.formats.json import JSONFormat

from carepath.chassis.auth import Role
from carepath.contracts import CloudEvent
from carepath.contracts.topics import INTAKE_EVENTS
from support import ROOT, ServiceProcess, end_offsets, read_to_end, token

pytestmark = pytest.mark.broker

JS_READER = ROOT / "contracts" / "tools" / "cloudevents-read"


def intake_records(intake: ServiceProcess, bootstrap: str) -> list[Any]:
    """The records of one new referral on intake's topic."""
    start = end_offsets(bootstrap, INTAKE_EVENTS.name)
    response = httpx.post(
        f"{intake.url}/patients",
        json=referral(),
        headers=token(Role.INTAKE_COORDINATOR, "coordinator-interop"),
    )
    assert response.status_code == 201
    patient = response.json()["patient_id"].encode()
    records = [r for r in read_to_end(bootstrap, start) if r.key == patient]
    assert records, "the referral reached the topic"
    return records


def test_no_record_header_looks_like_a_binary_mode_attribute(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    # The Kafka binding reads a record as binary mode when a header starts with `ce_`.
    for record in intake_records(intake_service, kafka_bootstrap):
        names = [name for name, _ in record.headers]
        assert "content-type" in names
        assert not [name for name in names if name.lower().startswith("ce_")], names


def test_the_python_sdk_reads_every_attribute_of_a_carepath_record(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    for record in intake_records(intake_service, kafka_bootstrap):
        ours = CloudEvent.from_json(record.value)
        message = cloudevents_kafka.KafkaMessage(
            headers=dict(record.headers), key=record.key, value=record.value
        )
        event = cloudevents_kafka.from_kafka(message, JSONFormat())
        attributes = event.get_attributes()
        assert attributes["id"] == str(ours.id)
        assert attributes["source"] == ours.source
        assert attributes["type"] == ours.type
        assert attributes["subject"] == ours.subject
        assert attributes["streamid"] == ours.streamid
        assert attributes["signature"] == ours.signature  # every extension is kept
        assert event.get_data() == ours.data


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_javascript_sdk_reads_a_carepath_record(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    if not (JS_READER / "node_modules" / "cloudevents").is_dir():
        pytest.fail("run `make contracts-tools` (npm ci in contracts/tools/cloudevents-read)")
    records = intake_records(intake_service, kafka_bootstrap)
    lines = "".join(
        json.dumps(
            {
                "key": record.key.decode(),
                "value": record.value.decode(),
                "headers": {name: value.decode() for name, value in record.headers},
            }
        )
        + "\n"
        for record in records
    )
    read = subprocess.run(
        ["node", "read.mjs"],
        input=lines,
        capture_output=True,
        text=True,
        cwd=JS_READER,
        timeout=60,
        check=True,
    )
    events = [json.loads(line) for line in read.stdout.splitlines()]
    assert len(events) == len(records)
    for record, event in zip(records, events, strict=True):
        ours = CloudEvent.from_json(record.value)
        assert "error" not in event, event
        assert event["id"] == str(ours.id) and event["type"] == ours.type
        assert event["source"] == ours.source and event["subject"] == ours.subject
        assert event.get("prevhash") == ours.prevhash and event["signature"] == ours.signature
        assert event["data"] == ours.data
