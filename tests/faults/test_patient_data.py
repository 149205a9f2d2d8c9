"""Patient data on a forever log, proven on the files: a referral's identifying and free-text
fields are nowhere in clear (broker segments, every service's database, logs, dead letters);
after an erasure nothing that remains can open them, while `verify` still passes and the
pathway's plain facts are intact.

The whole system runs on a broker of this module's own, so that every byte on it is ours."""

import asyncio
import base64
import sqlite3
import subprocess
import sys
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest
from conftest import KillableBroker
from faststream.kafka import KafkaBroker
from sqlalchemy import create_engine, text
from system import ClinicSystem, read_all

from carepath.chassis.auth import Role
from carepath.chassis.field_crypto import decrypt_field
from carepath.chassis.kafka import make_broker
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import ALL_TOPICS, CloudEvent, dlq_topic
from carepath.contracts.intake import IntakeCompleted
from carepath.contracts.topics import SUBSCRIPTIONS
from support import ISSUER_DIR, ROOT, ServiceProcess, identity_env, token, wait_until

pytestmark = pytest.mark.broker

SETTLE_WITHIN_S = 120


def distinctive(label: str) -> str:
    """A string found nowhere unless this test put it there."""
    return f"{label}{uuid4().hex[:10]}"


def files_under(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file()]


def files_holding(needle: bytes, files: list[Path]) -> list[str]:
    return [str(path) for path in files if needle in path.read_bytes()]


def refer(clinic: ClinicSystem, given: str, family: str, referrer: str, contact: str) -> UUID:
    response = httpx.post(
        f"{clinic.url('intake')}/patients",
        json={
            "given_name": given,
            "family_name": family,
            "date_of_birth": "1979-02-11",
            "referral_reason": "depression",
            "referrer": referrer,
            "contact": contact,
        },
        headers=token(Role.INTAKE_COORDINATOR, "coordinator-1"),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["patient_id"])


def post(url: str, body: dict[str, object], role: Role) -> httpx.Response:
    return httpx.post(url, json=body, headers=token(role, f"{role.value}-1"), timeout=30)


def record_phq9(clinic: ClinicSystem, patient: UUID) -> None:
    response = post(
        f"{clinic.url('intake')}/patients/{patient}/assessments",
        {"instrument": "PHQ9", "answers": [2, 2, 2, 2, 1, 1, 1, 1, 0]},
        Role.CLINICIAN,
    )
    assert response.status_code == 201, response.text


def test_a_referral_is_nowhere_in_clear_on_the_broker_the_databases_or_the_logs(
    clinic: ClinicSystem, fault_broker: KillableBroker
) -> None:
    given, family = distinctive("Quillonia"), distinctive("Vandersplint")
    referrer, contact = distinctive("Dr Ottoline "), f"{distinctive('q')}@example.org"
    reason = distinctive("moving abroad to live with my sister ")
    patient = refer(clinic, given, family, referrer, contact)
    record_phq9(clinic, patient)
    response = post(
        f"{clinic.url('intake')}/patients/{patient}/consents",
        {"consent_version": "kap-2026-01", "consent_text_sha256": "ab" * 32},
        Role.CLINICIAN,
    )
    assert response.status_code == 201, response.text
    response = post(
        f"{clinic.url('intake')}/patients/{patient}/consents/withdrawal",
        {"reason": reason},
        Role.CLINICIAN,
    )
    assert response.status_code == 200, response.text
    settle(clinic)

    record = httpx.get(
        f"{clinic.url('intake')}/patients/{patient}",
        headers=token(Role.CLINICIAN, "dr-read"),
        timeout=30,
    ).json()
    assert record["referral"]["given_name"] == given  # the service itself reads it in clear
    files = files_under(fault_broker.data_dir, clinic.work)
    segments = [
        path
        for path in files
        if path.suffix == ".log" and path.is_relative_to(fault_broker.data_dir)
    ]
    # The search can see: the patient's id (the record key, plain) is in the segments.
    assert files_holding(str(patient).encode(), segments)
    for phrase in (given, family, referrer, contact, reason, "1979-02-11"):
        assert files_holding(phrase.encode(), files) == [], phrase


def test_an_erased_patient_cannot_be_read_from_anything_that_remains_and_verify_passes(
    clinic: ClinicSystem, fault_broker: KillableBroker
) -> None:
    given, family = distinctive("Eglantine"), distinctive("Moresby")
    patient = refer(clinic, given, family, distinctive("Dr Fennimore "), distinctive("tel "))
    record_phq9(clinic, patient)
    settle(clinic)
    intake_db = Path(clinic.databases["intake"].removeprefix("sqlite:///"))
    wrapped = wrapped_key_of(intake_db, patient)
    fetched = httpx.get(
        f"{clinic.url('intake')}/patients/{patient}/data-key",
        headers=token(Role.SERVICE, "a-subscriber"),
        timeout=30,
    )
    assert fetched.status_code == 200, fetched.text
    data_key = base64.b64decode(fetched.json()["key"])
    referral = next(
        event
        for event in on_topics(fault_broker)
        if event.subject == str(patient) and event.type.endswith(".PatientReferred.v2")
    )
    assert decrypt_field(data_key, referral.id, "given_name", referral.data["given_name"]) == given

    erased = subprocess.run(
        [
            *(sys.executable, "-m", "carepath.intake.erase_cli", str(patient)),
            *("--ground", "data_subject_request", "--reference", "DSR-2026-0042"),
            *("--url", clinic.url("intake"), "--yes"),
        ],
        env={"CAREPATH_DEV_ISSUER_DIR": str(ISSUER_DIR), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert erased.returncode == 0, erased.stderr
    assert "erased at" in erased.stdout
    settle(clinic)

    # The key is gone from the key service and from every file of every service.
    gone = httpx.get(
        f"{clinic.url('intake')}/patients/{patient}/data-key",
        headers=token(Role.SERVICE, "a-subscriber"),
        timeout=30,
    )
    assert gone.status_code == 410, gone.text
    files = files_under(fault_broker.data_dir, clinic.work)
    assert files_holding(wrapped, files) == []
    assert files_holding(data_key, files) == []
    for phrase in (given, family):
        assert files_holding(phrase.encode(), files) == [], phrase
    # What the intake service answers now: the plain facts, no identity.
    record = httpx.get(
        f"{clinic.url('intake')}/patients/{patient}",
        headers=token(Role.CLINICIAN, "dr-read"),
        timeout=30,
    ).json()
    assert record["referral"] is None and record["referral_reason"] == "depression"
    assert record["erasure"]["ground"] == "data_subject_request"
    assert [a["total"] for a in record["assessments"]] == [12]
    refused = post(
        f"{clinic.url('intake')}/patients/{patient}/assessments",
        {"instrument": "PHQ9", "answers": [0] * 9},
        Role.CLINICIAN,
    )
    assert refused.status_code == 410, refused.text
    # The dashboard marks the erasure and keeps the pathway; the log still verifies, the
    # dashboard still equals its rebuild.
    timeline = httpx.get(
        f"{clinic.url('dashboard')}/api/patients/{patient}/timeline",
        headers=token(Role.CLINICIAN, "dr-read"),
        timeout=30,
    ).json()
    assert timeline["erased_at"] is not None
    assert {"PatientReferred", "AssessmentScored", "ErasureRecorded"} <= {
        entry["type"] for entry in timeline["entries"]
    }
    assert clinic.verify_findings() == 0
    assert clinic.dashboard_differences() == []


def test_errors_and_dead_letters_carry_no_patient_data(
    clinic: ClinicSystem, fault_broker: KillableBroker, postgres_url: str, tmp_path: Path
) -> None:
    seeded = distinctive("Thaddeus Wrenfield-")
    # A record that the consumers refuse, with the patient data in the bad field's value.
    bad = CloudEvent(
        id=uuid4(),
        source="/carepath/intake",
        type=IntakeCompleted.event_type(),
        time="2026-11-28T10:00:00Z",
        subject=str(uuid4()),
        data={"patient_id": seeded, "age_years": seeded},
        sequence=1,
        streamid="intake-poison",
        correlationid="c-poison",
        actor="intake_coordinator:x",
    )
    topic = IntakeCompleted.topic()
    before = {
        name: len(read_all(fault_broker.bootstrap, [dlq_topic(topic, name).name]))
        for name, topics in SUBSCRIPTIONS.items()
        if topic in topics
    }
    broker = make_broker(
        ServiceSettings(service_name="poisoner", kafka_bootstrap_servers=fault_broker.bootstrap)
    )
    asyncio.run(publish(broker, bad, topic.name))

    dashboard_letters = dlq_topic(topic, "dashboard").name

    def dead_lettered() -> bool:  # the dashboard reads every field: it refuses the record
        return len(read_all(fault_broker.bootstrap, [dashboard_letters])) > before["dashboard"]

    wait_until(dead_lettered, timeout=60, what="the record dead-lettered")
    settle(clinic)
    for name in before:
        for headers in dead_letter_headers(fault_broker, dlq_topic(topic, name).name):
            assert "dlq_error" in headers
            assert seeded.encode() not in b"".join(headers.values()), name

    # The database away during a write: intake on PostgreSQL, whose database stops taking
    # connections while a referral with patient data is posted.
    intake = intake_on_postgres(fault_broker, postgres_url, tmp_path)
    try:
        with lockout(intake.database):
            response = httpx.post(
                f"{intake.url}/patients",
                json={
                    "given_name": seeded,
                    "family_name": seeded,
                    "date_of_birth": "1970-01-01",
                    "referral_reason": "depression",
                    "referrer": seeded,
                },
                headers=token(Role.INTAKE_COORDINATOR, "coordinator-2"),
                timeout=60,
            )
            assert response.status_code >= 500
            assert seeded not in response.text
    finally:
        intake.stop()
    logs = [p for p in files_under(clinic.work, tmp_path) if p.suffix == ".log"]
    assert logs and files_holding(seeded.encode(), logs) == []
    # The failure was logged (as its class and stack, JSON), and still without the data.
    assert any(b'"stack": ' in path.read_bytes() for path in logs if "intake" in path.name)


# --- helpers -------------------------------------------------------------------------------


def settle(clinic: ClinicSystem) -> None:
    asyncio.run(clinic.settle(within=SETTLE_WITHIN_S))


async def publish(broker: KafkaBroker, event: CloudEvent, topic: str) -> None:
    await broker.start()
    try:
        await broker.publish(
            event.to_json(), topic=topic, key=b"poison", headers=event.kafka_headers()
        )
    finally:
        await broker.stop()


def wrapped_key_of(database: Path, patient: UUID) -> bytes:
    with sqlite3.connect(database) as connection:
        [wrapped] = connection.execute(
            "SELECT wrapped_key FROM patient_key WHERE patient_id = ?", (patient.hex,)
        ).fetchone()
    assert isinstance(wrapped, bytes) and len(wrapped) == 40
    return wrapped


def on_topics(broker: KillableBroker) -> list[CloudEvent]:
    values = read_all(broker.bootstrap, [topic.name for topic in ALL_TOPICS])
    return [CloudEvent.from_json(value) for value in values if value.startswith(b"{")]


def dead_letter_headers(broker: KillableBroker, topic: str) -> list[dict[str, bytes]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return [dict(record.headers) for record in consumer]
    finally:
        consumer.close()


class IntakeOnPostgres:
    def __init__(self, process: ServiceProcess, database: str) -> None:
        self.process, self.database, self.url = process, database, process.url

    def stop(self) -> None:
        self.process.stop()


def intake_on_postgres(broker: KillableBroker, database: str, work: Path) -> IntakeOnPostgres:
    process = ServiceProcess(
        "intake",
        "carepath.intake.app:create_app",
        {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "DATABASE_URL": database,
            "CAREPATH_VAR_DIR": str(work),
            **identity_env(),
            "CAREPATH_KEYS_DIR": str(work / "keys"),
        },
        work,
    ).start()
    return IntakeOnPostgres(process, database)


class lockout:
    """The database takes no connections, and those it had are closed, until the block ends."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.name = url.database
        self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

    def __enter__(self) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": self.name},
            )

    def __exit__(self, *_: object) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))
        self.admin.dispose()
