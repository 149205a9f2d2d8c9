"""The auditors' reports, from the brokers alone: replay into a local trail, a patient's
timeline as of a time, and exports (JSON, CSV, HTML, FHIR R4)."""

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clinic import FORM, Coordinator, events_of
from fhir.resources.R4B.bundle import Bundle

from carepath.chassis.auth import Role
from carepath.contracts.topics import INTAKE_EVENTS
from support import ROOT, ServiceProcess, free_port, token, wait_until

pytestmark = pytest.mark.broker


def audit(bootstrap: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carepath.audit.cli", *args, "--bootstrap-servers", bootstrap],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", **env},
    )


@pytest.fixture(scope="module")
def recorded_by(audit_service: ServiceProcess) -> dict[str, str]:
    """The audit service that records exports, and an auditor's token for it."""
    bearer = token(Role.AUDITOR, "auditor-export")["Authorization"].removeprefix("Bearer ")
    return {"CAREPATH_AUDIT_URL": audit_service.url, "CAREPATH_TOKEN": bearer}


@pytest.fixture(scope="module")
def patient(intake_service: ServiceProcess, kafka_bootstrap: str) -> tuple[str, datetime]:
    """A patient referred, then read by an auditor; returns the id and a time between the two."""
    coordinator = Coordinator(intake_service.url)
    patient_id = coordinator.refer()
    [referred] = events_of(kafka_bootstrap, INTAKE_EVENTS.name, patient_id)
    between = datetime.now(UTC)
    coordinator.client.put(f"/patients/{patient_id}/intake-form", json=FORM).raise_for_status()
    httpx.get(
        f"{intake_service.url}/patients/{patient_id}", headers={**token(Role.AUDITOR, "auditor-9")}
    ).raise_for_status()
    events_of(kafka_bootstrap, "carepath.access.events", patient_id)
    assert referred.time <= between
    return patient_id, between


def test_the_fhir_export_is_a_valid_r4_bundle_of_audit_events(
    patient: tuple[str, datetime],
    kafka_bootstrap: str,
    tmp_path: Path,
    recorded_by: dict[str, str],
) -> None:
    output = tmp_path / "audit.fhir.json"
    result = audit(
        kafka_bootstrap, "export", "--format", "fhir", "--output", str(output), **recorded_by
    )
    assert result.returncode == 0, result.stderr
    bundle = Bundle.model_validate(json.loads(output.read_text()))
    mine = [
        e.resource for e in bundle.entry if e.resource.entity[0].what.identifier.value == patient[0]
    ]  # type: ignore[union-attr]
    assert {r.action for r in mine} >= {"C", "U", "R"}  # referred, form, read
    read = next(r for r in mine if r.action == "R")
    assert (
        read.agent[0].who.identifier.value == "auditor-9"
        and read.purposeOfEvent[0].coding[0].code == "audit"
    )
    assert read.outcome == "0"


def test_a_csv_report_sorts_by_any_field(
    patient: tuple[str, datetime], kafka_bootstrap: str, recorded_by: dict[str, str]
) -> None:
    result = audit(
        kafka_bootstrap,
        *("export", "--format", "csv", "--sort", "user_id", "--descending"),
        **recorded_by,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    users = [row["user_id"] for row in rows]
    assert users == sorted(users, reverse=True) and "auditor-9" in users
    assert audit(kafka_bootstrap, "export", "--sort", "nonsense", **recorded_by).returncode != 0


def test_an_html_report_for_a_period(
    patient: tuple[str, datetime], kafka_bootstrap: str, recorded_by: dict[str, str]
) -> None:
    result = audit(
        kafka_bootstrap,
        *("export", "--format", "html", "--since", patient[1].isoformat()),
        **recorded_by,
    )
    assert result.returncode == 0 and "<table" in result.stdout
    assert (
        "PatientReferred" not in result.stdout
        or patient[0] not in result.stdout.split("PatientReferred")[0]
    )


def test_the_timeline_as_of_a_time_shows_only_what_had_happened(
    patient: tuple[str, datetime], kafka_bootstrap: str, recorded_by: dict[str, str]
) -> None:
    patient_id, between = patient
    before = audit(
        kafka_bootstrap,
        *("timeline", "--patient", patient_id, "--as-of", between.isoformat()),
        **recorded_by,
    )
    now = audit(kafka_bootstrap, "timeline", "--patient", patient_id, **recorded_by)
    assert before.returncode == now.returncode == 0
    assert "PatientReferred" in before.stdout and "IntakeFormSubmitted" not in before.stdout
    assert "IntakeFormSubmitted" in now.stdout and "RecordAccessed" in now.stdout


def test_replay_writes_a_hash_chained_local_trail(
    patient: tuple[str, datetime], kafka_bootstrap: str, tmp_path: Path
) -> None:
    import hashlib

    from carepath.chassis.evidence import canonical

    output = tmp_path / "trail.jsonl"
    assert audit(kafka_bootstrap, "replay", "--output", str(output)).returncode == 0
    entries = [json.loads(line) for line in output.read_text().splitlines()]
    previous = ""
    for entry in entries:
        expected = hashlib.sha256(
            previous.encode() + canonical({**entry, "entry_hash": ""})
        ).hexdigest()
        assert entry["entry_hash"] == expected
        previous = entry["entry_hash"]
    assert any(e["patient_id"] == patient[0] for e in entries)


def test_an_export_is_recorded_on_the_record_of_each_patient_in_it(
    patient: tuple[str, datetime], kafka_bootstrap: str, recorded_by: dict[str, str]
) -> None:
    patient_id, _ = patient

    def exports() -> list[Any]:
        accesses = events_of(kafka_bootstrap, "carepath.access.events", patient_id)
        return [e for e in accesses if e.data["action"] == "export"]

    before = len(exports())  # earlier reports of this module were recorded too
    result = audit(kafka_bootstrap, "export", "--format", "json", **recorded_by)
    assert result.returncode == 0, result.stderr
    assert patient_id in {row["patient_id"] for row in json.loads(result.stdout)}

    recorded = wait_until(
        lambda: found if len(found := exports()) > before else None,
        timeout=60,
        what="the export on the patient's record",
    )
    assert len(recorded) == before + 1  # once per patient, however many entries
    export = recorded[-1]
    assert (export.data["user_id"], export.data["role"], export.data["resource"]) == (
        "auditor-export",
        "auditor",
        "POST /exports",
    )
    assert export.data["purpose_of_use"] == "audit"


def test_an_export_that_cannot_be_recorded_is_not_made(
    patient: tuple[str, datetime], kafka_bootstrap: str, tmp_path: Path
) -> None:
    output = tmp_path / "unrecorded.json"
    nobody = {"CAREPATH_AUDIT_URL": f"http://127.0.0.1:{free_port()}", "CAREPATH_TOKEN": "x"}
    result = audit(kafka_bootstrap, "export", "--output", str(output), **nobody)
    assert result.returncode == 2
    assert "not exported" in result.stderr and not output.exists()
