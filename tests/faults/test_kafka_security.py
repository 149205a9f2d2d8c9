"""CarePath on a secured Kafka: a SASL_SSL listener (SCRAM-SHA-512 over TLS with a local CA), the
standard authorizer with nothing allowed that no ACL allows, and one SCRAM user per service whose
ACLs come from the topic registry (the same derivation as the Strimzi KafkaUsers of deploy/k8s).

The services run as processes with CAREPATH_KAFKA_SECURITY_PROTOCOL=SASL_SSL and their own
credentials; a patient goes from referral to an eligibility decision; a client without
credentials is refused; a service cannot write another context's topic; the auditors' tool, the
dashboard rebuild and the topic tool work over the same listener with the same settings."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clinic import Coordinator
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from secure_kafka import SecureKafka, secure_local_kafka

from carepath.chassis.auth import Role
from carepath.chassis.kafka import client_config
from carepath.chassis.replay import TopicReplay
from carepath.contracts.topics import ELIGIBILITY_EVENTS, INTAKE_EVENTS, SESSION_EVENTS
from support import ROOT, TEST_VAR, ServiceProcess, identity_env, token, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

SERVICES = ("intake", "eligibility", "dashboard", "audit")  # referral to decision, and projections
REFUSED_WITHIN_MS = 5000


@pytest.fixture(scope="module")
def secured() -> Iterator[SecureKafka]:
    """A secured broker of the module's own, its topics created by `carepath-topics` as admin."""
    with secure_local_kafka(TEST_VAR / "kafka-secured") as kafka:
        created = run_cli("carepath.chassis.topics_cli", [], kafka.client_env("admin"))
        assert created.returncode == 0, created.stderr
        assert f"topics present on {kafka.bootstrap}" in created.stdout
        yield kafka


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the services publish their public keys for the auditors."""
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def services(
    secured: SecureKafka, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """Intake, eligibility, dashboard and audit as processes, each as its own SCRAM user."""
    running: dict[str, ServiceProcess] = {}
    try:
        for name in SERVICES:  # intake first: the others ask it for patients' keys
            work = tmp_path_factory.mktemp(name)
            key_service = (
                {} if name == "intake" else {"CAREPATH_KEY_SERVICE_URL": running["intake"].url}
            )
            env = {
                **secured.client_env(f"carepath-{name}"),  # SASL_SSL, user, password, CA file
                "DATABASE_URL": f"sqlite:///{work / f'{name}.db'}",
                "CAREPATH_VAR_DIR": str(work),
                **identity_env(),
                "CAREPATH_KEYS_DIR": str(keys_dir),
                **key_service,
            }
            process = ServiceProcess(name, f"carepath.{name}.app:create_app", env, work)
            running[name] = process.start()  # waits for /healthz kafka "ok": connected
        yield running
    finally:
        for process in running.values():
            process.stop()


@pytest.fixture(scope="module")
def determined_patient(services: dict[str, ServiceProcess]) -> str:
    """A patient referred, through intake, and screened: the eligibility decision is made."""
    patient_id = str(Coordinator(services["intake"].url).complete_intake())
    reader = token(Role.CLINICIAN, "dr-okafor")

    def decided() -> dict[str, Any] | None:
        response = httpx.get(
            f"{services['eligibility'].url}/screenings/{patient_id}", headers=reader, timeout=5
        )
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return body if body.get("outcome") else None

    screening = wait_until(decided, timeout=60, what="eligibility to decide over SASL_SSL")
    assert screening["outcome"] == "eligible", screening
    return patient_id


def test_the_pathway_runs_over_sasl_ssl_with_one_user_per_service(
    services: dict[str, ServiceProcess], determined_patient: str
) -> None:
    def on_the_dashboard() -> list[str]:
        response = httpx.get(
            f"{services['dashboard'].url}/api/patients/{determined_patient}/timeline",
            headers=token(Role.CLINICIAN, "dr-okafor"),
            timeout=5,
        )
        types = [e["type"] for e in response.json()["entries"]] if response.is_success else []
        return types if "EligibilityDetermined" in types else []

    def in_the_trail() -> list[str]:
        response = httpx.get(
            f"{services['audit'].url}/trail",
            params={"patient": determined_patient},
            headers=token(Role.AUDITOR, "auditor-1"),
            timeout=5,
        )
        types = [e["event_type"] for e in response.json()["entries"]]
        return types if any("EligibilityDetermined" in t for t in types) else []

    timeline = wait_until(on_the_dashboard, timeout=60, what="the dashboard to project it")
    assert {"IntakeCompleted", "ScreeningStarted", "EligibilityDetermined"} <= set(timeline)
    trail = wait_until(in_the_trail, timeout=60, what="the audit trail to record it")
    assert any("IntakeCompleted" in t for t in trail), trail


@pytest.mark.parametrize(
    ("connection", "broker_says"),
    [
        pytest.param({"security_protocol": "PLAINTEXT"}, "SSL handshake failed", id="plaintext"),
        pytest.param(
            {"security_protocol": "SSL", "ssl_cafile": "CA"},
            "during SASL handshake",
            id="tls-without-sasl",
        ),
        pytest.param(
            {
                "security_protocol": "SASL_SSL",
                "ssl_cafile": "CA",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "carepath-intake",
                "sasl_plain_password": "not-its-password",
            },
            "invalid credentials with SASL mechanism SCRAM-SHA-512",
            id="wrong-password",
        ),
    ],
)
def test_a_client_without_valid_credentials_is_refused(
    secured: SecureKafka, connection: dict[str, str], broker_says: str
) -> None:
    if connection.get("ssl_cafile") == "CA":
        connection = {**connection, "ssl_cafile": str(secured.ca_file)}
    log = secured.data_dir / "logs" / "server.log"
    logged_before = len(log.read_text())

    with pytest.raises(KafkaError, match="Unable to bootstrap"):
        KafkaConsumer(
            bootstrap_servers=secured.bootstrap,
            bootstrap_timeout_ms=REFUSED_WITHIN_MS,
            request_timeout_ms=REFUSED_WITHIN_MS,
            **connection,
        ).close()  # reached only if it was let in

    # The broker turned it away (it was up, and said why), rather than not answering.
    wait_until(
        lambda: broker_says in log.read_text()[logged_before:],
        timeout=10,
        what=f"the broker to log '{broker_says}'",
    )
    KafkaConsumer(**client_config(secured.settings("carepath-intake"))).close()  # the broker is up


def test_the_auditors_tool_without_credentials_says_what_to_set(
    secured: SecureKafka, keys_dir: Path
) -> None:
    plain = {"KAFKA_BOOTSTRAP_SERVERS": secured.bootstrap}
    verified = run_cli("carepath.audit.cli", ["verify", "--keys-dir", str(keys_dir)], plain)
    assert verified.returncode == 2, verified.stdout + verified.stderr
    assert "cannot replay" in verified.stderr
    assert "CAREPATH_KAFKA_SECURITY_PROTOCOL" in verified.stderr


def test_a_service_cannot_write_another_contexts_topic(secured: SecureKafka) -> None:
    producer = KafkaProducer(
        **client_config(secured.settings("carepath-eligibility")), max_block_ms=10_000
    )
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(SESSION_EVENTS.name, key=b"patient", value=b"forged").get(timeout=10)
        with pytest.raises(TopicAuthorizationFailedError):
            producer.send(INTAKE_EVENTS.name, key=b"patient", value=b"forged").get(timeout=10)
    finally:
        producer.close(timeout=5)


def test_a_service_cannot_see_a_topic_it_does_not_consume(
    secured: SecureKafka, determined_patient: str
) -> None:
    # Intake consumes nothing: Kafka hides the eligibility decisions from it; the auditors read them.
    with TopicReplay(secured.settings("carepath-intake"), [ELIGIBILITY_EVENTS.name]) as replay:
        assert replay.missing == [ELIGIBILITY_EVENTS.name]
        assert list(replay) == []
    with TopicReplay(secured.settings("carepath-auditor"), [ELIGIBILITY_EVENTS.name]) as replay:
        assert replay.missing == []
        assert any(record.key == determined_patient.encode() for record in replay)


def test_the_auditors_verify_and_timeline_work_over_sasl_ssl(
    secured: SecureKafka,
    keys_dir: Path,
    determined_patient: str,
    services: dict[str, ServiceProcess],
) -> None:
    auditor = secured.client_env("carepath-auditor")
    # The timeline is recorded on the patient's record by the audit service before it is shown.
    bearer = token(Role.AUDITOR, "auditor-sasl")["Authorization"].removeprefix("Bearer ")
    auditor |= {"CAREPATH_AUDIT_URL": services["audit"].url, "CAREPATH_TOKEN": bearer}
    verified = run_cli(
        "carepath.audit.cli", ["verify", "--json", "--keys-dir", str(keys_dir)], auditor
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    report = json.loads(verified.stdout)
    assert report["findings"] == [] and report["events"] >= 5, report
    assert {"intake", "eligibility"} <= set(report["keys"]), report["keys"]

    timeline = run_cli("carepath.audit.cli", ["timeline", "--patient", determined_patient], auditor)
    assert timeline.returncode == 0, timeline.stderr[-2000:]
    assert "EligibilityDetermined" in timeline.stdout, timeline.stdout


def test_the_dashboard_rebuild_works_over_sasl_ssl(
    secured: SecureKafka, keys_dir: Path, determined_patient: str, tmp_path: Path
) -> None:
    rebuilt = run_cli(
        "carepath.dashboard.cli",
        ["rebuild", "--database", f"sqlite:///{tmp_path / 'rebuilt.db'}"],
        {**secured.client_env("carepath-dashboard"), "CAREPATH_KEYS_DIR": str(keys_dir)},
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    applied = re.search(r"rebuilt: (\d+) events applied", rebuilt.stderr)
    assert applied and int(applied[1]) >= 5, rebuilt.stderr[-2000:]


def run_cli(module: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m module args` with the given Kafka settings instead of the caller's."""
    clean = {k: v for k, v in os.environ.items() if "KAFKA" not in k}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
