"""`carepath-audit verify` against forged logs on the real broker: each kind of tampering is
found, with its location, and exits non-zero; an untouched log exits 0, and so does a log holding
copies the relay redelivered."""

import asyncio
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest
from kafka import KafkaProducer

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.evidence import load_signer
from carepath.chassis.kafka import ensure_topics
from carepath.chassis.patient_keys import KeyEncryptionKey, PatientKeys
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts import CloudEvent, PatientReferred, Topic
from carepath.contracts.intake import ConsentGiven, ConsentWithdrawn
from carepath.contracts.session import CourseOpened, CourseOpeningBasis
from support import ROOT

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def log(keys: Path, tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """A genuine log: two patients' intake streams, signed by the intake service."""
    import asyncio

    async def record() -> list[bytes]:
        engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'intake.db'}")
        await create_tables(engine)
        store = EventStore(
            engine,
            load_signer("intake", keys),
            PatientKeys(engine, KeyEncryptionKey("t", bytes(32))),
        )
        meta = EventMetadata(
            source="/carepath/intake", actor="intake_coordinator:c-1", correlation_id="c"
        )
        values = []
        for _ in range(2):
            patient = uuid4()
            events = [
                PatientReferred(
                    patient_id=patient,
                    given_name="A",
                    family_name="B",
                    date_of_birth=date(1980, 1, 1),
                    referral_reason="depression",
                    referrer="R",
                ),
                ConsentGiven(
                    patient_id=patient,
                    consent_version="3.2",
                    consent_text_sha256="ab" * 32,
                    given_at="2026-11-20T10:00:00Z",
                ),
                ConsentWithdrawn(patient_id=patient, withdrawn_at="2026-11-21T10:00:00Z"),
            ]
            for version, event in enumerate(events):
                [recorded] = await store.append(
                    f"intake-{patient}", version, [event], subject=str(patient), metadata=meta
                )
                values.append(recorded.to_cloud_event().to_json())
        await engine.dispose()
        return values

    return asyncio.run(record())


def publish(bootstrap: str, values: list[bytes]) -> str:
    """A fresh one-partition topic holding `values` in this order."""
    name = f"audit-test-{uuid4().hex[:8]}"
    ensure_topics(bootstrap, [Topic(name, "test", "forged log")], partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value in values:
        producer.send(name, key=CloudEvent.from_json(value).subject.encode(), value=value)
    producer.flush()
    producer.close()
    return name


def verify(
    bootstrap: str, keys: Path, *topics: str, as_json: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "carepath.audit.cli",
            "verify",
            "--bootstrap-servers",
            bootstrap,
            "--keys-dir",
            str(keys),
            *(option for topic in topics for option in ("--topic", topic)),
            *(["--json"] if as_json else []),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )


def findings(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("finding")]


def test_an_untouched_log_verifies(kafka_bootstrap: str, keys: Path, log: list[bytes]) -> None:
    result = verify(kafka_bootstrap, keys, publish(kafka_bootstrap, log))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "6 events in 2 streams" in result.stdout
        and "0 findings" in result.stdout
        and "events/s" in result.stdout
    )


def test_a_modified_payload_is_found(kafka_bootstrap: str, keys: Path, log: list[bytes]) -> None:
    forged = list(log)
    forged[1] = forged[1].replace(b'"consent_version":"3.2"', b'"consent_version":"9.9"')
    topic = publish(kafka_bootstrap, forged)
    result = verify(kafka_bootstrap, keys, topic)
    assert result.returncode == 1
    found = findings(result)
    assert any(f"{topic}[0]@1 signature" in line for line in found)
    assert any(f"{topic}[0]@2 chain" in line for line in found)  # the next event no longer links


def test_a_deleted_event_shows_as_a_gap(kafka_bootstrap: str, keys: Path, log: list[bytes]) -> None:
    topic = publish(kafka_bootstrap, log[:1] + log[2:])
    result = verify(kafka_bootstrap, keys, topic)
    assert result.returncode == 1
    assert any(f"{topic}[0]@1 gap" in line and "missing 2" in line for line in findings(result))


def test_an_injected_event_with_a_wrong_signature_is_found(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    genuine = CloudEvent.from_json(log[2])
    injected = genuine.model_copy(
        update={"id": uuid4(), "streamsequence": 4, "signature": genuine.signature[::-1]}
    )  # type: ignore[index]
    topic = publish(kafka_bootstrap, [*log[:3], injected.to_json(), *log[3:]])
    result = verify(kafka_bootstrap, keys, topic)
    assert result.returncode == 1
    assert any(f"{topic}[0]@3 signature" in line for line in findings(result))


def test_two_swapped_events_are_found(kafka_bootstrap: str, keys: Path, log: list[bytes]) -> None:
    topic = publish(kafka_bootstrap, [log[0], log[2], log[1], *log[3:]])
    result = verify(kafka_bootstrap, keys, topic)
    assert result.returncode == 1
    kinds = {(line.split()[1], line.split()[2].rstrip(":")) for line in findings(result)}
    assert (f"{topic}[0]@1", "gap") in kinds and (f"{topic}[0]@2", "order") in kinds


def test_an_exact_duplicate_is_a_redelivery_not_a_finding(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    topic = publish(kafka_bootstrap, [*log[:2], log[1], *log[2:]])
    result = verify(kafka_bootstrap, keys, topic)
    assert result.returncode == 0, result.stdout + result.stderr
    assert findings(result) == []
    assert "7 events in 2 streams" in result.stdout and "0 findings" in result.stdout
    assert "1 redelivered copy (an exact duplicate" in result.stdout


def test_the_json_report_counts_redeliveries_apart_from_findings(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    topic = publish(kafka_bootstrap, [*log[:2], log[1], *log[2:]])
    result = verify(kafka_bootstrap, keys, topic, as_json=True)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["events"], report["streams"]) == (7, 2)
    assert (report["redeliveries"], report["findings"]) == (1, [])


def test_a_relay_republishing_a_whole_batch_leaves_the_chain_intact(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    """The relay crashed after publishing a stream's three events, before marking them."""
    topic = publish(kafka_bootstrap, [*log[:3], *log[:3], *log[3:]])
    result = verify(kafka_bootstrap, keys, topic)
    assert result.returncode == 0, result.stdout + result.stderr
    assert findings(result) == []
    assert "3 redelivered copies (exact duplicates" in result.stdout


def test_a_copy_reserialised_with_other_key_order_is_still_a_redelivery(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    reserialised = json.dumps(json.loads(log[1]), sort_keys=True, indent=1).encode()
    assert reserialised != log[1]
    topic = publish(kafka_bootstrap, [*log[:2], reserialised, *log[2:]])
    result = verify(kafka_bootstrap, keys, topic, as_json=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["redeliveries"] == 1


def test_a_different_event_under_an_existing_id_is_found(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    other = log[1].replace(b'"consent_version":"3.2"', b'"consent_version":"9.9"')
    assert other != log[1] and CloudEvent.from_json(other).id == CloudEvent.from_json(log[1]).id
    topic = publish(kafka_bootstrap, [*log[:2], other, *log[2:]])
    result = verify(kafka_bootstrap, keys, topic)
    assert result.returncode == 1
    assert any(
        f"{topic}[0]@2 duplicate" in line
        and f"different event with the same id of {topic}[0]@1" in line
        for line in findings(result)
    )
    assert "0 redelivered copies" in result.stdout


def test_a_differently_signed_copy_under_an_existing_id_is_found(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    genuine = CloudEvent.from_json(log[1])
    resigned = genuine.model_copy(update={"signature": genuine.signature[::-1]})  # type: ignore[index]
    topic = publish(kafka_bootstrap, [*log[:2], resigned.to_json(), *log[2:]])
    result = verify(kafka_bootstrap, keys, topic, as_json=True)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["redeliveries"] == 0
    assert [(f["offset"], f["kind"]) for f in report["findings"]] == [(2, "duplicate")]


def test_a_copy_in_another_topic_is_found(
    kafka_bootstrap: str, keys: Path, log: list[bytes]
) -> None:
    """The relay publishes an event to its own context's topic only, so a copy elsewhere is not
    a redelivery."""
    genuine, elsewhere = publish(kafka_bootstrap, log), publish(kafka_bootstrap, log[:1])
    result = verify(kafka_bootstrap, keys, genuine, elsewhere)
    assert result.returncode == 1
    [finding] = findings(result)
    assert "duplicate" in finding and "a copy, in another topic," in finding


def test_an_event_signed_by_an_unknown_service_is_found(
    kafka_bootstrap: str, keys: Path, log: list[bytes], tmp_path: Path
) -> None:
    other = tmp_path / "other-keys"
    load_signer("session", other)  # the auditor holds only the session service's key
    result = verify(kafka_bootstrap, other, publish(kafka_bootstrap, log[:1]))
    assert result.returncode == 1
    assert "no public key for source /carepath/intake" in result.stdout


def test_an_event_signed_by_a_service_that_may_not_produce_it_is_found(
    kafka_bootstrap: str, keys: Path
) -> None:
    # Intake's key is genuine and its signature holds; but only the session service opens courses.
    async def forge() -> bytes:
        engine = create_engine(f"sqlite:///{keys.parent / f'forger-{uuid4().hex[:6]}.db'}")
        await create_tables(engine)
        store = EventStore(engine, load_signer("intake", keys))
        patient = uuid4()
        [recorded] = await store.append(
            f"session-{patient}",
            0,
            [
                CourseOpened(
                    patient_id=patient,
                    course_id=uuid4(),
                    basis=CourseOpeningBasis.ELIGIBLE,
                    basis_event_id=uuid4(),
                    planned_dosing_sessions=6,
                    planned_weeks=3,
                    policy_version="2026.1",
                )
            ],
            subject=str(patient),
            metadata=EventMetadata(
                source="/carepath/intake", actor="intake_coordinator:mallory", correlation_id="c"
            ),
        )
        await engine.dispose()
        return recorded.to_cloud_event().to_json()

    topic = publish(kafka_bootstrap, [asyncio.run(forge())])
    result = verify(kafka_bootstrap, keys, topic)

    assert result.returncode == 1
    assert any(
        f"{topic}[0]@0 producer" in line and "/carepath/intake may not produce" in line
        for line in findings(result)
    ), result.stdout
