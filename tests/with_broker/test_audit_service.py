"""The audit service: every event becomes a trail entry; auditors (only) read it filtered and
sorted; its hash chain verifies, and breaks when a row is altered."""

import sqlite3

import httpx
import pytest
from clinic import Coordinator

from carepath.chassis.auth import Role
from support import ServiceProcess, token, wait_until

pytestmark = pytest.mark.broker


def trail(audit: ServiceProcess, **params: str) -> list[dict[str, str]]:
    response = httpx.get(
        f"{audit.url}/trail", params=params, headers=token(Role.AUDITOR, "auditor-1"), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["entries"]  # type: ignore[no-any-return]


def test_the_trail_answers_who_did_what_to_which_patient(
    audit_service: ServiceProcess, intake_service: ServiceProcess
) -> None:
    coordinator = Coordinator(intake_service.url)
    patient = coordinator.refer()
    httpx.get(
        f"{intake_service.url}/patients/{patient}", headers=token(Role.CLINICIAN, "dr-read")
    ).raise_for_status()

    entries = wait_until(
        lambda: (
            len(trail(audit_service, patient=patient)) >= 2
            and trail(audit_service, patient=patient)
        ),
        timeout=60,
        what="the referral and the read in the trail",
    )

    created = next(e for e in entries if e["event_type"].endswith("PatientReferred.v2"))
    assert (created["user_id"], created["role"], created["action"], created["data_category"]) == (
        "coordinator-3",
        "intake_coordinator",
        "C",
        "demographics",
    )
    read = next(e for e in entries if e["event_type"].endswith("RecordAccessed.v1"))
    assert (read["user_id"], read["action"], read["purpose"], read["client_address"]) == (
        "dr-read",
        "R",
        "treatment",
        "127.0.0.1",
    )
    by_user = trail(audit_service, sort="user_id", order="desc")
    assert [e["user_id"] for e in by_user] == sorted((e["user_id"] for e in by_user), reverse=True)


def test_each_entry_names_the_consent_in_force_and_its_purpose(
    audit_service: ServiceProcess, intake_service: ServiceProcess
) -> None:
    coordinator = Coordinator(intake_service.url)
    patient = coordinator.complete_intake()
    read = httpx.get(
        f"{intake_service.url}/patients/{patient}",
        headers={**token(Role.AUDITOR, "auditor-7"), "X-Purpose-Of-Use": "audit"},
    )
    assert read.status_code == 200, read.text
    coordinator.client.post(
        f"/patients/{patient}/consents/withdrawal",
        json={},
        headers={"X-Purpose-Of-Use": "patient_request"},  # the patient asked
    ).raise_for_status()
    coordinator.client.get(f"/patients/{patient}").raise_for_status()

    def both_reads_and_the_withdrawal() -> list[dict[str, str]] | None:
        found = trail(audit_service, patient=patient)
        readers = {e["user_id"] for e in found if e["event_type"].endswith("RecordAccessed.v1")}
        withdrawn = any("ConsentWithdrawn" in e["event_type"] for e in found)
        return found if {"auditor-7", "coordinator-3"} <= readers and withdrawn else None

    entries = wait_until(
        both_reads_and_the_withdrawal, timeout=60, what="the reads and the withdrawal in the trail"
    )
    given = next(e for e in entries if ".ConsentGiven." in e["event_type"])
    reads = {e["user_id"]: e for e in entries if e["event_type"].endswith("RecordAccessed.v1")}
    before, after = reads["auditor-7"], reads["coordinator-3"]
    assert (before["user_id"], before["purpose"], before["consent"]) == (
        "auditor-7",
        "audit",
        given["event_id"],
    )
    assert (after["user_id"], after["consent"]) == ("coordinator-3", None)  # withdrawn by then
    withdrawal = next(e for e in entries if ".ConsentWithdrawn." in e["event_type"])
    assert (withdrawal["purpose"], withdrawal["consent"]) == ("patient_request", given["event_id"])
    referral = next(e for e in entries if ".PatientReferred." in e["event_type"])
    assert (referral["purpose"], referral["consent"]) == ("treatment", None)  # none given yet


def test_only_auditors_read_the_trail(audit_service: ServiceProcess) -> None:
    assert httpx.get(f"{audit_service.url}/trail", headers=token(Role.CLINICIAN)).status_code == 403
    assert httpx.get(f"{audit_service.url}/trail").status_code == 401
    assert (
        httpx.get(
            f"{audit_service.url}/trail", params={"sort": "nonsense"}, headers=token(Role.AUDITOR)
        ).status_code
        == 422
    )


def test_the_trail_chain_verifies_and_an_altered_row_breaks_it(
    audit_service: ServiceProcess, intake_service: ServiceProcess
) -> None:
    Coordinator(intake_service.url).refer()
    auditor = token(Role.AUDITOR)
    wait_until(
        lambda: (
            httpx.get(f"{audit_service.url}/trail/verify", headers=auditor).json()["entries"] > 0
        ),
        timeout=60,
        what="entries in the trail",
    )
    assert httpx.get(f"{audit_service.url}/trail/verify", headers=auditor).json()["intact"] is True

    with sqlite3.connect(audit_service.log_path.parent / "audit.db") as database:
        database.execute("UPDATE audit_trail SET user_id = 'someone-else' WHERE position = 1")

    verdict = httpx.get(f"{audit_service.url}/trail/verify", headers=auditor).json()
    assert verdict["intact"] is False and verdict["broken_at_positions"][0] == 1
