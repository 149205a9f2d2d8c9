"""A scripted intake over HTTP against the running service: the events on Kafka, in order,
with server-computed totals; refused requests leave the topic unchanged; reads are audited."""

import hashlib
import json
from typing import Any

import httpx
import pytest

from carepath.chassis.auth import Role
from carepath.contracts import CloudEvent
from carepath.contracts.topics import ACCESS_EVENTS, INTAKE_EVENTS
from support import ROOT, ServiceProcess, end_offsets, read_records, read_to_end, token

pytestmark = pytest.mark.broker

REFERRAL = {
    "given_name": "Tomas",
    "family_name": "Reyes",
    "date_of_birth": "1975-09-30",
    "referral_reason": "depression",
    "referrer": "Dr Amari, Eastside Clinic",
}
FORM = json.loads((ROOT / "examples" / "intake-form.json").read_text())  # the README's example
PHQ9 = {"instrument": "PHQ9", "answers": [3, 3, 2, 2, 2, 1, 2, 1, 1]}  # total 17, item 9 = 1
CSSRS = {"instrument": "CSSRS", "answers": [True, False, None, None, None, False, None]}
CONSENT = {
    "consent_version": "kap-consent-3.2",
    "consent_text_sha256": hashlib.sha256(b"consent text").hexdigest(),
}


def post(
    client: httpx.Client, path: str, body: dict[str, Any], method: str = "POST"
) -> httpx.Response:
    return client.request(
        method, path, json=body, headers=token(Role.INTAKE_COORDINATOR, "coordinator-3")
    )


def patient_records(bootstrap: str, start: dict, patient_id: str) -> list[CloudEvent]:
    return [
        CloudEvent.from_json(r.value)
        for r in read_to_end(bootstrap, start)
        if r.key == patient_id.encode()
    ]


def test_a_scripted_intake_produces_the_expected_events_in_order(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    start = end_offsets(kafka_bootstrap, INTAKE_EVENTS.name)
    with httpx.Client(base_url=intake_service.url) as client:
        patient_id = post(client, "/patients", REFERRAL).json()["patient_id"]
        assert post(client, f"/patients/{patient_id}/intake-form", FORM, "PUT").status_code == 200
        scored = post(client, f"/patients/{patient_id}/assessments", PHQ9)
        assert scored.status_code == 201
        assert scored.json() | {"missing": None} == scored.json() | {
            "total": 17,
            "band": "moderately_severe",
            "suicidality_flag": True,
            "missing": None,
        }
        assert (
            post(client, f"/patients/{patient_id}/assessments", CSSRS).json()["suicide_risk"]
            == "low"
        )
        done = post(client, f"/patients/{patient_id}/consents", CONSENT)
        assert (
            done.status_code == 201
            and done.json()["status"] == "complete"
            and done.json()["missing"] == []
        )

    expected = [
        "PatientReferred",
        "IntakeFormSubmitted",
        "AssessmentScored",
        "SuicidalityFlagRaised",
        "SuicideRiskScreened",
        "ConsentGiven",
        "IntakeCompleted",
    ]
    key = patient_id.encode()
    read_records(
        kafka_bootstrap, start, until=lambda rs: sum(r.key == key for r in rs) >= len(expected)
    )
    events = patient_records(kafka_bootstrap, start, patient_id)
    assert [e.type.split(".")[2] for e in events] == expected
    assert [e.streamsequence for e in events] == list(range(1, len(expected) + 1))
    assert len({e.streamid for e in events}) == 1
    assert events[2].data["total"] == 17 and events[2].data["item_scores"] == PHQ9["answers"]
    completed = events[-1].data
    assert (
        completed["phq9_total"] == 17
        and completed["phq9_item9"] == 1
        and completed["cssrs_risk"] == "low"
    )
    assert completed["age_years"] >= 51 and "family_name" not in completed
    assert all(e.actor == "intake_coordinator:coordinator-3" for e in events)


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"instrument": "PHQ9", "answers": [1] * 8}, "answers", "PHQ9 needs 9 answers"),
        ({"instrument": "PHQ9", "answers": [1] * 8 + [4]}, "answers", "item 9 is 4"),
        ({"instrument": "GAD7", "answers": [1, 1, 1, 1, 1, 1, -1]}, "answers", "item 7 is -1"),
        (
            {"instrument": "CSSRS", "answers": [True, False, True, None, None, False, None]},
            "answers",
            "Q3 is asked only when Q2 is yes",
        ),
        ({"instrument": "BDI", "answers": [1]}, "instrument", "PHQ9"),
        (
            {"instrument": "PHQ9", "answers": [1] * 9, "administered_at": "2999-01-01T00:00:00Z"},
            "administered_at",
            "must not be in the future",
        ),
    ],
    ids=[
        "wrong-count",
        "out-of-range",
        "negative",
        "cssrs-follow-up-when-q2-no",
        "unknown-instrument",
        "future-time",
    ],
)
def test_a_bad_assessment_is_422_naming_the_field_and_the_topic_is_unchanged(
    intake_service: ServiceProcess,
    kafka_bootstrap: str,
    body: dict[str, Any],
    field: str,
    message: str,
) -> None:
    with httpx.Client(base_url=intake_service.url) as client:
        patient_id = post(client, "/patients", REFERRAL).json()["patient_id"]
        key = patient_id.encode()
        start = end_offsets(kafka_bootstrap, INTAKE_EVENTS.name)
        read_records(
            kafka_bootstrap, {tp: 0 for tp in start}, until=lambda rs: any(r.key == key for r in rs)
        )
        start = end_offsets(kafka_bootstrap, INTAKE_EVENTS.name)

        response = post(client, f"/patients/{patient_id}/assessments", body)

        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"][-1] == field and message in error["msg"]
        # A later accepted command is the next event of the stream: nothing was stored in between.
        assert post(client, f"/patients/{patient_id}/consents", CONSENT).status_code == 201
    events = [e for e in patient_records_until(kafka_bootstrap, start, patient_id, 1)]
    assert [(e.type.split(".")[2], e.streamsequence) for e in events] == [("ConsentGiven", 2)]


def patient_records_until(
    bootstrap: str, start: dict, patient_id: str, count: int
) -> list[CloudEvent]:
    key = patient_id.encode()
    read_records(bootstrap, start, until=lambda rs: sum(r.key == key for r in rs) >= count)
    return patient_records(bootstrap, start, patient_id)


def test_commands_that_no_longer_fit_are_409_with_the_reason(
    intake_service: ServiceProcess,
) -> None:
    with httpx.Client(base_url=intake_service.url) as client:
        patient_id = post(client, "/patients", REFERRAL).json()["patient_id"]
        assert post(client, f"/patients/{patient_id}/consents", CONSENT).status_code == 201
        twice = post(client, f"/patients/{patient_id}/consents", CONSENT)
        assert twice.status_code == 409 and "already given" in twice.json()["detail"]
        assert post(client, f"/patients/{patient_id}/consents/withdrawal", {}).status_code == 200
        again = post(client, f"/patients/{patient_id}/consents/withdrawal", {})
        assert again.status_code == 409 and "already withdrawn" in again.json()["detail"]


def test_commands_for_an_unknown_patient_are_404(intake_service: ServiceProcess) -> None:
    with httpx.Client(base_url=intake_service.url) as client:
        response = post(client, "/patients/0b7e6f0a-1c2d-4e3f-8a9b-0c1d2e3f4a5b/assessments", PHQ9)
    assert response.status_code == 404


def test_an_auditor_may_read_but_not_write(intake_service: ServiceProcess) -> None:
    with httpx.Client(base_url=intake_service.url) as client:
        patient_id = post(client, "/patients", REFERRAL).json()["patient_id"]
        auditor = token(Role.AUDITOR, "auditor-1")
        assert client.get(f"/patients/{patient_id}", headers=auditor).status_code == 200
        refused = client.post(f"/patients/{patient_id}/assessments", json=PHQ9, headers=auditor)
        assert refused.status_code == 403


def test_reading_a_patient_emits_an_access_event(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    start = end_offsets(kafka_bootstrap, ACCESS_EVENTS.name)
    with httpx.Client(base_url=intake_service.url) as client:
        patient_id = post(client, "/patients", REFERRAL).json()["patient_id"]
        response = client.get(
            f"/patients/{patient_id}",
            headers={**token(Role.CLINICIAN, "dr-okafor"), "X-Purpose-Of-Use": "treatment"},
        )
        assert response.status_code == 200

    key = patient_id.encode()
    [record] = [
        r
        for r in read_records(
            kafka_bootstrap, start, until=lambda rs: any(r.key == key for r in rs)
        )
        if r.key == key
    ]
    event = CloudEvent.from_json(record.value)
    assert event.type == "carepath.access.RecordAccessed.v1"
    data = event.data
    assert (data["user_id"], data["role"], data["action"], data["outcome"]) == (
        "dr-okafor",
        "clinician",
        "read",
        "success",
    )
    assert data["resource"] == "GET /patients/{patient_id}" and data["service"] == "intake"
    assert data["purpose_of_use"] == "treatment" and "demographics" in data["data_categories"]
    assert data["client_address"] == "127.0.0.1"
