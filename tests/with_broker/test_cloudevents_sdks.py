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
from carepath.chassis.evidence import digest
from carepath.contracts import CloudEvent
from carepath.contracts.publish import current_schemas
from carepath.contracts.topics import INTAKE_EVENTS
from support import ROOT, TEST_VAR, ServiceProcess, end_offsets, read_to_end, token

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
        assert attributes["streamsequence"] == ours.streamsequence  # an integer, as published
        assert attributes["dataschema"] == current_schemas()[ours.type]["$id"]
        assert "sequence" not in attributes  # the Sequence extension is a string, per source
        assert attributes["signature"] == ours.signature  # every extension is kept
        assert event.get_data() == ours.data


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_javascript_sdk_reads_a_carepath_record(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    events = run_node(["read.mjs"], intake_records(intake_service, kafka_bootstrap))
    for event in events:
        ours = CloudEvent.from_json(event.pop("value"))
        assert "error" not in event, event
        assert event["id"] == str(ours.id) and event["type"] == ours.type
        assert event["source"] == ours.source and event["subject"] == ours.subject
        assert event.get("prevhash") == ours.prevhash and event["signature"] == ours.signature
        assert event["streamsequence"] == ours.streamsequence
        assert event["data"] == ours.data


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_javascript_verifier_checks_the_evidence_of_a_carepath_record(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    """Digest (RFC 8785) and signature reproduced from the raw record and the published keys."""
    records = intake_records(intake_service, kafka_bootstrap)
    checked = run_node(["verify.mjs", "--keys", str(TEST_VAR / "keys")], records)
    for found in checked:
        ours = CloudEvent.from_json(found.pop("value"))
        assert (found["verified"], found.get("problem")) == (True, None), found
        assert found["digest"] == digest(ours) and found["prevhash"] == ours.prevhash


def run_node(command: list[str], records: list[Any]) -> list[dict[str, Any]]:
    """What a Node tool of contracts/tools/cloudevents-read prints for each record (with the
    record's value beside it), fed the records as a Node Kafka client decodes them."""
    if not (JS_READER / "node_modules" / "canonicalize").is_dir():
        pytest.fail("run `make contracts-tools` (npm ci in contracts/tools/cloudevents-read)")
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
        ["node", *command],
        input=lines,
        capture_output=True,
        text=True,
        cwd=JS_READER,
        timeout=60,
        check=True,
    )
    printed = [json.loads(line) for line in read.stdout.splitlines()]
    assert len(printed) == len(records)
    return [
        {**found, "value": record.value} for record, found in zip(records, printed, strict=True)
    ]
