"""A referral posted over HTTP to the running intake service arrives on Kafka as a CloudEvent."""

import base64
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from carepath.chassis.auth import Role, issue_token
from carepath.chassis.sealing import unseal
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import CloudEvent, PatientReferred, registry
from carepath.contracts.topics import ACCESS_EVENTS
from support import ServiceProcess, end_offsets, read_records, read_to_end, token

pytestmark = pytest.mark.broker

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

REFERRAL = {
    "given_name": "Mara",
    "family_name": "Quinn",
    "date_of_birth": "1979-03-14",
    "referral_reason": "depression",
    "referrer": "Dr Okafor, Northside GP",
    "contact": "+44 20 7946 0000",
}


def stored_event_count(work_dir: Path) -> int:
    """Intake's own events in its event store (published or not). Record-access events are left
    out: intake records one whenever another service running beside it fetches a patient's data
    key, at any time."""
    with sqlite3.connect(work_dir / "intake.db") as connection:
        found = connection.execute(
            "SELECT count(*) FROM event_store WHERE event_type NOT LIKE 'carepath.access.%'"
        )
        return int(found.fetchone()[0])


def test_a_referral_posted_over_http_arrives_on_kafka_as_a_cloudevent(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    topic = PatientReferred.topic().name
    start = end_offsets(kafka_bootstrap, topic)
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

    response = httpx.post(
        f"{intake_service.url}/patients",
        json=REFERRAL,
        headers={**token(Role.INTAKE_COORDINATOR, "coordinator-7"), "traceparent": traceparent},
    )

    assert response.status_code == 201, response.text
    patient_id = UUID(response.json()["patient_id"])
    key = str(patient_id).encode()
    read_records(kafka_bootstrap, start, until=lambda records: any(r.key == key for r in records))
    records = [r for r in read_to_end(kafka_bootstrap, start) if r.key == key]
    assert len(records) == 1
    record = records[0]
    headers = {name: value.decode() for name, value in record.headers}
    assert headers["content-type"] == "application/cloudevents+json"
    assert headers["carepath_type"] == "carepath.intake.PatientReferred.v2"

    event = CloudEvent.from_json(record.value)
    assert event.specversion == "1.0"
    assert event.type == "carepath.intake.PatientReferred.v2"
    assert event.source == "/carepath/intake"
    assert event.subject == str(patient_id)
    assert headers["carepath_id"] == str(event.id)
    assert event.streamsequence == 1 and event.envelopeversion == 2
    assert event.streamid == f"intake-{patient_id}"
    assert event.actor == "intake_coordinator:coordinator-7"
    assert event.correlationid and event.causationid
    assert abs(event.time - datetime.now(UTC)) < timedelta(minutes=5)
    assert event.traceparent is not None and event.traceparent.split("-")[1] == TRACE_ID
    assert headers["traceparent"].split("-")[1] == TRACE_ID
    referred = registry.parse(event.type, event.data)  # no key: the sealed fields masked
    assert isinstance(referred, PatientReferred) and referred.patient_id == patient_id
    assert referred.given_name == "protected"
    for name in ("given_name", "family_name", "date_of_birth", "referrer"):
        assert event.data[name].startswith("enc:v1:"), name
        assert str(REFERRAL[name]).encode() not in record.value, name
    # A service (or an entitled subscriber) fetches the patient's key and opens them.
    fetched = httpx.get(
        f"{intake_service.url}/patients/{patient_id}/data-key", headers=token(Role.SERVICE)
    )
    assert fetched.status_code == 200, fetched.text
    key = base64.b64decode(fetched.json()["key"])
    opened = unseal(event.data, event.type, event.id, key)
    assert PatientReferred.model_validate(opened).date_of_birth == date(1979, 3, 14)


def test_the_referred_patient_reads_back(intake_service: ServiceProcess) -> None:
    created = httpx.post(
        f"{intake_service.url}/patients", json=REFERRAL, headers=token(Role.CLINICIAN)
    )
    patient_id = created.json()["patient_id"]

    response = httpx.get(f"{intake_service.url}/patients/{patient_id}", headers=token(Role.AUDITOR))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["missing"] == ["intake form", "CSSRS assessment", "PHQ9 assessment", "consent"]
    assert body["referral"]["family_name"] == "Quinn"
    assert body["version"] == 1


def test_an_unknown_patient_is_404(intake_service: ServiceProcess) -> None:
    response = httpx.get(
        f"{intake_service.url}/patients/5f0c7c0e-8d5e-4c55-9d3c-4c1f5e2b7a10",
        headers=token(Role.CLINICIAN),
    )
    assert response.status_code == 404


def test_without_a_token_referral_is_401_and_nothing_is_stored(
    intake_service: ServiceProcess,
) -> None:
    work = intake_service.log_path.parent
    before = stored_event_count(work)

    response = httpx.post(f"{intake_service.url}/patients", json=REFERRAL)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert stored_event_count(work) == before


def test_a_forged_token_is_401(intake_service: ServiceProcess, tmp_path: Path) -> None:
    # An issuer of the same name with keys of its own: not in the provider's JWKS.
    forged = issue_token(
        ServiceSettings(service_name="x", dev_issuer_dir=tmp_path / "forger"),
        Role.CLINICIAN,
        "mallory",
    )
    response = httpx.post(
        f"{intake_service.url}/patients",
        json=REFERRAL,
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize("role", [Role.NURSE, Role.THERAPIST, Role.AUDITOR, Role.OPERATOR])
def test_a_role_that_may_not_refer_is_403_and_nothing_is_stored(
    intake_service: ServiceProcess, role: Role
) -> None:
    work = intake_service.log_path.parent
    before = stored_event_count(work)

    response = httpx.post(f"{intake_service.url}/patients", json=REFERRAL, headers=token(role))

    assert response.status_code == 403
    assert role.value in response.json()["detail"]
    assert stored_event_count(work) == before


@pytest.mark.parametrize(
    "date_of_birth, reason",
    [
        ((date.today() + timedelta(days=1)).isoformat(), "must not be in the future"),
        ("1985-02-30", "valid date"),
        ("not-a-date", "valid date"),
        ("1850-01-01", "on or after 1900-01-01"),
    ],
)
def test_a_bad_date_of_birth_is_422_naming_the_field_and_nothing_is_stored(
    intake_service: ServiceProcess, date_of_birth: str, reason: str
) -> None:
    work = intake_service.log_path.parent
    before = stored_event_count(work)

    response = httpx.post(
        f"{intake_service.url}/patients",
        json={**REFERRAL, "date_of_birth": date_of_birth},
        headers=token(Role.INTAKE_COORDINATOR),
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "date_of_birth"]
    assert reason in error["msg"]
    assert stored_event_count(work) == before


def test_an_unknown_referral_reason_is_422_listing_the_allowed_values(
    intake_service: ServiceProcess,
) -> None:
    response = httpx.post(
        f"{intake_service.url}/patients",
        json={**REFERRAL, "referral_reason": "insomnia"},
        headers=token(Role.INTAKE_COORDINATOR),
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "referral_reason"]
    assert "chronic_pain" in error["msg"]


def test_health_endpoints_need_no_token(intake_service: ServiceProcess) -> None:
    assert httpx.get(f"{intake_service.url}/healthz").json() == {"status": "ok", "kafka": "ok"}
    ready = httpx.get(f"{intake_service.url}/readyz").json()
    assert ready["checks"] == {"database": "ok"}
    assert set(ready["outbox"]) == {"backlog", "parked"}


def test_a_patient_s_key_is_for_services_only_and_every_fetch_is_recorded(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    created = httpx.post(
        f"{intake_service.url}/patients", json=REFERRAL, headers=token(Role.CLINICIAN)
    )
    patient_id = created.json()["patient_id"]
    url = f"{intake_service.url}/patients/{patient_id}/data-key"

    assert httpx.get(url, headers=token(Role.CLINICIAN)).status_code == 403
    assert httpx.get(url, headers=token(Role.AUDITOR)).status_code == 403
    unknown = f"{intake_service.url}/patients/{uuid4()}/data-key"
    assert httpx.get(unknown, headers=token(Role.SERVICE)).status_code == 404
    start = end_offsets(kafka_bootstrap, ACCESS_EVENTS.name)
    fetched = httpx.get(url, headers=token(Role.SERVICE, "subscriber-analytics"))

    assert fetched.status_code == 200
    assert len(base64.b64decode(fetched.json()["key"])) == 32
    key = str(patient_id).encode()
    records = read_records(
        kafka_bootstrap,
        start,
        until=lambda found: any(r.key == key and b'"outcome":"success"' in r.value for r in found),
    )
    [access] = [  # (the refusals above are recorded too, as denied)
        event
        for event in (CloudEvent.from_json(r.value) for r in records if r.key == key)
        if event.data["outcome"] == "success"
    ]
    assert access.data["data_categories"] == ["data_key"]
    assert (access.data["user_id"], access.data["role"]) == ("subscriber-analytics", "service")
