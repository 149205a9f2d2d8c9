"""The way back after a consent withdrawal, on the real broker with real service processes: a
patient with a course withdraws consent (no dosing), gives new consent, is screened again, and
gets a new course that can be dosed; the old course stays ended."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from clinic import CONSENT, Coordinator, events_of

from carepath.chassis.auth import Role
from carepath.contracts.topics import ELIGIBILITY_EVENTS, SESSION_EVENTS
from support import ServiceProcess, token, wait_until

pytestmark = pytest.mark.broker


def at(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def test_new_consent_and_a_new_screening_give_a_withdrawn_patient_a_new_course(
    intake_service: ServiceProcess,
    eligibility_service: ServiceProcess,
    session_service: ServiceProcess,
    kafka_bootstrap: str,
) -> None:
    coordinator = Coordinator(intake_service.url)
    session = httpx.Client(base_url=session_service.url)
    nurse, therapist, clinician = (
        token(Role.NURSE, "n-8"),
        token(Role.THERAPIST, "t-8"),
        token(Role.CLINICIAN, "c-8"),
    )
    patient = coordinator.complete_intake()
    [first] = events_of(kafka_bootstrap, SESSION_EVENTS.name, patient, types=("CourseOpened",))

    # Consent withdrawn: the course stops, and nothing can be booked on it.
    withdrawn = coordinator.client.post(f"/patients/{patient}/consents/withdrawal", json={})
    assert withdrawn.status_code == 200, withdrawn.text
    events_of(kafka_bootstrap, SESSION_EVENTS.name, patient, types=("CourseEnded",))
    refused = session.post(
        f"/courses/{patient}/dosing-sessions", json={"scheduled_for": at(-60)}, headers=nurse
    )
    assert refused.status_code == 409, refused.text

    # New consent completes intake again; eligibility screens again; a new course opens.
    again = coordinator.client.post(f"/patients/{patient}/consents", json=CONSENT)
    assert again.status_code == 201, again.text
    screenings = events_of(
        kafka_bootstrap,
        ELIGIBILITY_EVENTS.name,
        patient,
        types=("EligibilityDetermined",),
        at_least=2,
    )
    outcomes = [e for e in screenings if e.type.split(".")[2] == "EligibilityDetermined"]
    assert [o.data["outcome"] for o in outcomes] == ["eligible", "eligible"]
    assert outcomes[1].data["consent_given_at"] > outcomes[0].data["consent_given_at"]

    def new_course() -> str | None:
        answer = session.get(f"/courses/{patient}", headers=nurse)
        course_id = answer.json().get("course_id") if answer.status_code == 200 else None
        return course_id if course_id and course_id != first.data["course_id"] else None

    course_id = wait_until(new_course, timeout=30, what="a new course after new consent")
    assert course_id != first.data["course_id"]

    # The new course is dosed like any other.
    steps = [
        (
            f"/courses/{patient}/preparation-sessions",
            therapist,
            {"held_at": at(30), "intentions": ["Come back to myself"], "modality": "act"},
        ),
        (f"/courses/{patient}/dosing-sessions", nurse, {"scheduled_for": at(20)}),
    ]
    for url, who, body in steps:
        answer = session.post(url, json=body, headers=who)
        assert answer.status_code == 201, answer.text
    session_id = answer.json()["session_id"]
    check_in = {
        "measured_at": at(10),
        "systolic": 124,
        "diastolic": 78,
        "heart_rate": 70,
        "spo2": 98,
        "weight_kg": 70,
    }
    answer = session.post(f"/dosing-sessions/{session_id}/check-in", json=check_in, headers=nurse)
    assert answer.status_code == 200, answer.text
    dose = {"administered_at": at(5), "route": "im", "dose_mg": 35}
    answer = session.post(f"/dosing-sessions/{session_id}/dose", json=dose, headers=clinician)
    assert answer.status_code == 200, answer.text
