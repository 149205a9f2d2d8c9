"""The rolling upgrade to envelope version 2, with a real intake service and broker: a patient's
stream begun as version 1 (`CAREPATH_ENVELOPE_VERSION=1`, while readers of the version before
still run) continues as version 2 after the switch. The numbering continues, the chain holds
across the boundary, and the auditors' `verify` checks each record with its own digest."""

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from uuid import uuid4

import httpx
import pytest
from clinic import CONSENT, FORM, NO_RISK_CSSRS, referral
from kafka import KafkaProducer

from carepath.chassis.auth import Role
from carepath.chassis.evidence import digest
from carepath.chassis.kafka import ensure_topics
from carepath.contracts import CloudEvent
from carepath.contracts.topics import INTAKE_EVENTS, Topic
from support import (
    ROOT,
    TEST_VAR,
    ServiceProcess,
    end_offsets,
    identity_env,
    read_records,
    token,
)

KEYS_DIR = TEST_VAR / "keys"  # where the services under test publish their public keys

pytestmark = pytest.mark.broker


def intake(bootstrap: str, work: Path, envelope_version: int) -> ServiceProcess:
    """An intake service on its own database in `work`, writing that envelope version."""
    return ServiceProcess(
        "intake",
        "carepath.intake.app:create_app",
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": f"sqlite:///{work / 'intake.db'}",
            "CAREPATH_VAR_DIR": str(work),
            "CAREPATH_KEYS_DIR": str(KEYS_DIR),
            "CAREPATH_ENVELOPE_VERSION": str(envelope_version),
            **identity_env(),
        },
        work,
    )


def previous_release() -> ModuleType:
    """The envelope module of the release before version 2, as its readers have it."""
    path = ROOT / "tests" / "fixtures" / "previous_release" / "envelope.py"
    spec = importlib.util.spec_from_file_location("previous_release_envelope", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def previous_digest(event: object) -> str:
    """The release before's digest (its `evidence.digest`, which had one form only)."""
    document = event.model_dump(mode="json", exclude_none=True, exclude={"signature"})  # type: ignore[attr-defined]
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def send(service: ServiceProcess, method: str, path: str, body: dict) -> dict:
    response = httpx.request(
        method,
        f"{service.url}{path}",
        json=body,
        headers=token(Role.INTAKE_COORDINATOR, "coordinator-upgrade"),
    )
    assert response.status_code in (200, 201), response.text
    result: dict = response.json()
    return result


def test_a_stream_begun_as_version_1_continues_as_version_2_and_verifies(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    start = end_offsets(kafka_bootstrap, INTAKE_EVENTS.name)
    before = intake(kafka_bootstrap, tmp_path, envelope_version=1).start()
    try:
        patient = send(before, "POST", "/patients", referral())["patient_id"]
        send(before, "PUT", f"/patients/{patient}/intake-form", FORM)
    finally:
        before.stop()
    after = intake(kafka_bootstrap, tmp_path, envelope_version=2).start()
    try:
        phq9 = {"instrument": "PHQ9", "answers": [3, 3, 2, 2, 2, 1, 2, 1, 0]}
        send(after, "POST", f"/patients/{patient}/assessments", phq9)
        send(after, "POST", f"/patients/{patient}/assessments", NO_RISK_CSSRS)
        assert send(after, "POST", f"/patients/{patient}/consents", CONSENT)["status"] == "complete"
    finally:
        after.stop()

    key = patient.encode()
    records = [
        r
        for r in read_records(
            kafka_bootstrap,
            start,
            until=lambda rs: any(b"IntakeCompleted" in r.value for r in rs if r.key == key),
        )
        if r.key == key
    ]
    values = [r.value for r in records]
    events = [CloudEvent.from_json(value) for value in values]
    published = [json.loads(value) for value in values]

    assert [e.envelopeversion for e in events] == [1, 1] + [2] * (len(events) - 2)
    assert ["sequence" in p for p in published] == [True, True] + [False] * (len(events) - 2)
    assert [e.streamsequence for e in events] == list(range(1, len(events) + 1))
    assert [e.prevhash for e in events[1:]] == [digest(e) for e in events[:-1]]
    assert {e.digestalg for e in events} == {None, "jcs-sha256"}

    # The release before reads what this one wrote as version 1, and its digests agree (its
    # consumers keep working during step 1 of the upgrade); version 2 it cannot read.
    before_model = previous_release().CloudEvent
    [first, second] = [before_model.from_json(value) for value in values[:2]]
    assert previous_digest(first) == digest(events[0]) == second.prevhash
    assert previous_digest(second) == digest(events[1]) == events[2].prevhash
    with pytest.raises(ValueError, match="sequence"):
        before_model.from_json(values[2])

    # The auditors' verify, on a topic holding exactly this stream
    topic = f"upgrade-test-{uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [Topic(topic, "test", "one stream")], partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for value in values:
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "carepath.audit.cli",
            "verify",
            "--bootstrap-servers",
            kafka_bootstrap,
            "--keys-dir",
            str(KEYS_DIR),
            "--topic",
            topic,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["findings"] == [], report
