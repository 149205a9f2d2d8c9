"""The dashboard against the running services: read models follow the pathway live, alerts are
acknowledged and recorded, and a rebuild from offset 0 equals the live read models row for row."""

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from clinic import CONSENT, FORM, NO_RISK_CSSRS, Coordinator, events_of, referral

from carepath.chassis.auth import Role
from carepath.contracts.topics import ACCESS_EVENTS
from carepath.dashboard.cli import read_model_differences
from support import ROOT, TEST_VAR, ServiceProcess, token, wait_until

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def system(
    intake_service: ServiceProcess,
    eligibility_service: ServiceProcess,
    session_service: ServiceProcess,
    integration_service: ServiceProcess,
    dashboard_service: ServiceProcess,
) -> ServiceProcess:
    return dashboard_service


def summary(dashboard: ServiceProcess) -> dict[str, Any]:
    response = httpx.get(
        f"{dashboard.url}/api/summary", headers=token(Role.CLINICIAN, "dr-dash"), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def caught_up(dashboard: ServiceProcess) -> bool:
    lag = summary(dashboard)["lag"]
    return bool(lag) and all(row["lag"] == 0 for row in lag)


def test_the_read_models_follow_the_pathway_and_alerts_are_acknowledged(
    system: ServiceProcess, intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    before = {row["stage"]: row["patients"] for row in summary(system)["funnel"]}
    coordinator = Coordinator(intake_service.url)
    completed = coordinator.complete_intake()
    flagged = coordinator.refer()
    coordinator.client.post(
        f"/patients/{flagged}/assessments",
        json={"instrument": "PHQ9", "answers": [2, 2, 2, 2, 2, 2, 2, 2, 2]},
    )

    def counted() -> dict[str, int] | None:
        now = {row["stage"]: row["patients"] for row in summary(system)["funnel"]}
        return now if now["course_opened"] >= before["course_opened"] + 1 else None

    after = wait_until(counted, timeout=60, what="the dashboard to count the new course")
    assert (
        after["referred"] >= before["referred"] + 2
        and after["intake_complete"] >= before["intake_complete"] + 1
    )
    alerts = wait_until(
        lambda: [a for a in summary(system)["alerts"] if a["patient_id"] == flagged],
        timeout=60,
        what="the suicidality alert",
    )
    assert alerts[0]["kind"] == "suicidality" and "item 9 = 2" in alerts[0]["detail"]

    timeline = httpx.get(
        f"{system.url}/api/patients/{completed}/timeline", headers=token(Role.NURSE)
    ).json()
    assert [e["type"] for e in timeline["entries"]][:2] == [
        "PatientReferred",
        "IntakeFormSubmitted",
    ]
    assert "Tomas" not in str(timeline)  # no names on the dashboard

    alert_id = alerts[0]["alert_id"]
    by_a_nurse = httpx.post(
        f"{system.url}/api/alerts/{alert_id}/acknowledgement", headers=token(Role.NURSE, "rn-1")
    )
    assert by_a_nurse.status_code == 403 and "only a clinician" in by_a_nurse.text
    acknowledged = httpx.post(
        f"{system.url}/api/alerts/{alert_id}/acknowledgement",
        json={"note": "called, safe"},
        headers=token(Role.CLINICIAN, "dr-ack"),
    )
    assert acknowledged.status_code == 200
    wait_until(
        lambda: all(a["alert_id"] != alert_id for a in summary(system)["alerts"]),
        timeout=60,
        what="the acknowledged alert to leave the list",
    )
    recorded = events_of(kafka_bootstrap, ACCESS_EVENTS.name, flagged, types=("AlertAcknowledged",))
    ack = next(e for e in recorded if e.type.endswith("AlertAcknowledged.v2"))
    assert ack.data["alert_event_id"] == alert_id and ack.data["user_id"] == "dr-ack"
    again = httpx.post(
        f"{system.url}/api/alerts/{alert_id}/acknowledgement", headers=token(Role.CLINICIAN)
    )
    assert again.status_code == 409


def test_a_back_charted_intake_reads_in_clinical_order_with_its_late_entries_marked(
    system: ServiceProcess, intake_service: ServiceProcess
) -> None:
    now = datetime.now(UTC)
    referred, form_filled, consented = (now - timedelta(days=d) for d in (10, 9, 8))
    coordinator = Coordinator(intake_service.url)
    patient = coordinator.refer(referred_at=referred.isoformat())
    steps = [  # typed in today, out of clinical order: consent first, the form last
        ("POST", "consents", {**CONSENT, "given_at": consented.isoformat()}),
        ("POST", "assessments", {**NO_RISK_CSSRS, "administered_at": form_filled.isoformat()}),
        ("POST", "assessments", {"instrument": "PHQ9", "answers": [2, 2, 2, 2, 2, 1, 1, 1, 0]}),
        ("PUT", "intake-form", {**FORM, "submitted_at": form_filled.isoformat()}),
    ]
    for method, path, body in steps:
        answer = coordinator.client.request(method, f"/patients/{patient}/{path}", json=body)
        assert answer.status_code in (200, 201), answer.text

    def entries() -> list[dict[str, Any]] | None:
        answer = httpx.get(
            f"{system.url}/api/patients/{patient}/timeline", headers=token(Role.NURSE)
        )
        found = answer.json()["entries"] if answer.status_code == 200 else []
        return found if any(e["type"] == "EligibilityDetermined" for e in found) else None

    timeline = wait_until(entries, timeout=60, what="the screening on the patient's timeline")
    at = [datetime.fromisoformat(e["at"]) for e in timeline]
    assert at == sorted(at)
    assert [e["type"] for e in timeline][:2] == ["PatientReferred", "SuicideRiskScreened"]
    late = {e["type"]: e["late_entry"] for e in timeline}
    assert late["PatientReferred"] and late["ConsentGiven"] and late["IntakeFormSubmitted"]
    assert not late["AssessmentScored"]  # the PHQ-9 was charted as it was taken, today
    # intake completed clinically with its last piece (the PHQ-9, today); screening with it
    completed = next(e for e in timeline if e["type"] == "IntakeCompleted")
    screened = next(e for e in timeline if e["type"] == "EligibilityDetermined")
    assert completed["at"] == screened["at"]


def test_a_charted_time_in_the_future_is_refused_before_anything_is_written(
    intake_service: ServiceProcess,
) -> None:
    coordinator = Coordinator(intake_service.url)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    answer = coordinator.client.post("/patients", json=referral(referred_at=tomorrow))
    assert answer.status_code == 422
    assert "referred_at" in answer.text and "future" in answer.text


def test_reading_the_dashboard_needs_a_role(system: ServiceProcess) -> None:
    assert httpx.get(f"{system.url}/api/summary").status_code == 401
    assert httpx.get(f"{system.url}/api/summary", headers=token(Role.OPERATOR)).status_code == 403
    assert httpx.get(f"{system.url}/").status_code == 200  # the page itself holds no data


def test_a_rebuild_from_offset_0_equals_the_live_read_models(
    system: ServiceProcess, intake_service: ServiceProcess, kafka_bootstrap: str, tmp_path: Any
) -> None:
    Coordinator(intake_service.url).complete_intake()
    wait_until(
        lambda: caught_up(system),
        timeout=60,
        what="the dashboard to consume every topic to the end",
    )
    live = f"sqlite:///{system.log_path.parent / 'dashboard.db'}"
    rebuilt = f"sqlite:///{tmp_path / 'rebuilt.db'}"

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "carepath.dashboard.cli",
            "rebuild",
            "--database",
            rebuilt,
            "--bootstrap-servers",
            kafka_bootstrap,
            "--keys-dir",  # the live dashboard's public keys: it skips what that one refuses
            str(TEST_VAR / "keys"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "events applied" in result.stderr

    differences = asyncio.run(read_model_differences(live, rebuilt))
    assert differences == []
