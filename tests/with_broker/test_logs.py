"""The services' logs are JSON lines with the service's name and the trace they belong to, and
hold no patient data, whatever the patient data passing through them (accepted, refused as bad
input, or set aside as a poison or forged record)."""

import json
from uuid import uuid4

import httpx
import pytest
from clinic import referral
from faststream.kafka import KafkaBroker

from carepath.chassis.auth import Role
from carepath.contracts.topics import INTAKE_EVENTS
from support import ServiceProcess, eventually, token

pytestmark = pytest.mark.broker

# Identifying data no other test uses, so that any trace of it in a log comes from this test.
GIVEN, FAMILY, REFERRER = "Perpetua", "Vandermolen-Okafor", "Dr Ignatius Wolstenholme"
DATE_OF_BIRTH = "1958-07-14"
PHI = (GIVEN, FAMILY, REFERRER, "Wolstenholme", DATE_OF_BIRTH)
DEAD_LETTERED = f"goes to {INTAKE_EVENTS.name}.dlq.eligibility"


def log_lines(service: ServiceProcess) -> list[str]:
    return [line for line in service.log_path.read_text().splitlines() if line.strip()]


def forged_referral() -> bytes:
    """A well-formed CloudEvent that claims to come from intake, carrying patient data in
    clear, unsigned: every consumer must refuse it."""
    patient = str(uuid4())
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid4()),
            "source": "/carepath/intake",
            "type": "carepath.intake.PatientReferred.v1",
            "time": "2026-11-29T08:00:00Z",
            "subject": patient,
            "datacontenttype": "application/json",
            "data": {
                "patient_id": patient,
                "given_name": GIVEN,
                "family_name": FAMILY,
                "date_of_birth": DATE_OF_BIRTH,
                "referral_reason": "depression",
                "referrer": REFERRER,
            },
            "sequence": 1,
            "streamid": f"intake-{patient}",
            "correlationid": "forged",
            "actor": "intake_coordinator:someone",
        }
    ).encode()


async def test_logs_are_json_lines_with_trace_ids_and_no_patient_data(
    intake_service: ServiceProcess, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    dead_lettered_before = sum(DEAD_LETTERED in line for line in log_lines(eligibility_service))
    headers = token(Role.INTAKE_COORDINATOR, "coordinator-logs")
    async with httpx.AsyncClient(base_url=intake_service.url, headers=headers) as intake:
        accepted = await intake.post(
            "/patients",
            json=referral(
                given_name=GIVEN,
                family_name=FAMILY,
                referrer=REFERRER,
                date_of_birth=DATE_OF_BIRTH,
            ),
        )
        assert accepted.status_code == 201
        # Refused as bad input, with the patient's data in the body and in the query string:
        # the request is logged (uvicorn's access log), the data is not.
        refused = await intake.post(
            "/patients",
            params={"family_name": FAMILY, "date_of_birth": DATE_OF_BIRTH},
            json=referral(given_name=GIVEN, date_of_birth=f"{FAMILY} {DATE_OF_BIRTH}"),
        )
        assert refused.status_code == 422
    broker = KafkaBroker(kafka_bootstrap)
    await broker.start()
    try:
        poison = f'{{"given_name": "{GIVEN}", "family_name": "{FAMILY}"'.encode()  # cut short
        await broker.publish(poison, topic=INTAKE_EVENTS.name, key=b"logs-poison")
        await broker.publish(forged_referral(), topic=INTAKE_EVENTS.name, key=b"logs-forged")
    finally:
        await broker.stop()

    await eventually(
        lambda: (
            sum(DEAD_LETTERED in line for line in log_lines(eligibility_service))
            >= dead_lettered_before + 2
        ),
        within=30,
        what="eligibility to log both records it set aside",
        every=0.2,
    )

    await eventually(
        lambda: any(
            entry["logger"] == "uvicorn.access"
            and '"POST /patients HTTP/1.1" 422' in entry["message"]
            for entry in map(json.loads, log_lines(intake_service))
        ),
        within=10,
        what="intake to log the refused request",
        every=0.2,
    )
    for service in (intake_service, eligibility_service):
        entries = [json.loads(line) for line in log_lines(service)]  # each line is one object
        assert all(entry["service.name"] == f"carepath-{service.name}" for entry in entries)
        assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
        text = "\n".join(log_lines(service))
        leaked = [value for value in PHI if value in text]
        assert not leaked, f"{service.name}'s log holds patient data: {leaked}"
    dead_letters = [
        json.loads(line) for line in log_lines(eligibility_service) if DEAD_LETTERED in line
    ]
    # Each line about a record leads to the trace of its processing.
    assert all(len(e["trace_id"]) == 32 and len(e["span_id"]) == 16 for e in dead_letters)
