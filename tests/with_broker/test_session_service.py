"""Intake, eligibility and session as separate processes on the real broker: an eligible patient
gets a course automatically; a full dosing session over HTTP; conflicting commands."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from clinic import Coordinator, events_of

from carepath.chassis.auth import Role
from carepath.contracts.topics import SESSION_EVENTS
from support import ServiceProcess, token

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def coordinator(intake_service: ServiceProcess) -> Coordinator:
    return Coordinator(intake_service.url)


def at(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def course_for(coordinator: Coordinator, bootstrap: str) -> str:
    patient_id = coordinator.complete_intake()
    events_of(bootstrap, SESSION_EVENTS.name, patient_id, types=("CourseOpened",))
    return patient_id


@pytest.fixture(scope="module")
def services(
    eligibility_service: ServiceProcess, session_service: ServiceProcess
) -> ServiceProcess:
    return session_service


def test_an_eligible_patient_gets_a_course_automatically(
    coordinator: Coordinator, services: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = coordinator.complete_intake()

    [opened] = events_of(kafka_bootstrap, SESSION_EVENTS.name, patient_id, types=("CourseOpened",))

    assert opened.type == "carepath.session.CourseOpened.v1"
    assert opened.data["basis"] == "eligible" and opened.data["planned_dosing_sessions"] == 6
    course = httpx.get(f"{services.url}/courses/{patient_id}", headers=token(Role.NURSE)).json()
    assert course["course_id"] == opened.data["course_id"] and course["dosing_sessions"] == []


def test_a_full_dosing_session_over_http_emits_the_expected_events_in_order(
    coordinator: Coordinator, services: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = course_for(coordinator, kafka_bootstrap)
    therapist, nurse, clinician = (
        token(Role.THERAPIST, "t-1"),
        token(Role.NURSE, "n-1"),
        token(Role.CLINICIAN, "c-1"),
    )

    def call(
        path: str, body: dict[str, Any], headers: dict[str, str], expected: int = 200
    ) -> dict[str, Any]:
        response = httpx.post(f"{services.url}{path}", json=body, headers=headers)
        assert response.status_code == expected, response.text
        return response.json()  # type: ignore[no-any-return]

    call(
        f"/courses/{patient_id}/preparation-sessions",
        {
            "held_at": at(60 * 24),
            "intentions": ["Reconnect with my family"],
            "mindfulness_practice": "body scan",
            "modality": "act",
        },
        therapist,
        201,
    )
    session = call(f"/courses/{patient_id}/dosing-sessions", {"scheduled_for": at(150)}, nurse, 201)
    sid = session["session_id"]
    assert session["session_number"] == 1 and session["status"] == "scheduled"
    checked = call(
        f"/dosing-sessions/{sid}/check-in",
        {
            "measured_at": at(180),
            "systolic": 128,
            "diastolic": 82,
            "heart_rate": 72,
            "spo2": 98,
            "weight_kg": 80.0,
        },
        nurse,
    )
    assert checked["status"] == "checked_in"
    dosed = call(
        f"/dosing-sessions/{sid}/dose",
        # a 40-minute infusion: the observation window runs from its end, 130 minutes ago
        {"administered_at": at(170), "route": "iv", "dose_mg": 40, "infusion_minutes": 40},
        clinician,
    )
    assert dosed["dose"]["dose_mg_per_kg"] == 0.5 and dosed["status"] == "monitoring"
    call(
        f"/dosing-sessions/{sid}/vitals",
        {"measured_at": at(125), "systolic": 150, "diastolic": 92, "heart_rate": 88, "spo2": 97},
        nurse,
        201,
    )
    call(
        f"/dosing-sessions/{sid}/observations",
        {
            "observed_at": at(120),
            "cadss_total": 18,
            "sedation": "drowsy",
            "side_effects": ["nausea"],
        },
        nurse,
        201,
    )
    call(
        f"/dosing-sessions/{sid}/vitals",
        {"measured_at": at(12), "systolic": 126, "diastolic": 80, "heart_rate": 70, "spo2": 98},
        nurse,
        201,
    )

    early = httpx.post(
        f"{services.url}/dosing-sessions/{sid}/discharge",
        headers=clinician,
        json={
            "discharged_at": at(20),
            "readiness_confirmed": True,
            "escort_confirmed": True,
            "no_driving_advised": True,
        },
    )
    assert early.status_code == 409
    assert (
        early.json()["reasons"] == ["observation_window_not_elapsed"]
        and "110 of 120 minutes" in early.json()["detail"]
    )

    done = call(
        f"/dosing-sessions/{sid}/discharge",
        {
            "discharged_at": at(0),
            "readiness_confirmed": True,
            "escort_confirmed": True,
            "no_driving_advised": True,
        },
        clinician,
    )
    assert done["status"] == "discharged"

    expected = [
        "CourseOpened",
        "PreparationSessionCompleted",
        "DosingSessionScheduled",
        "PatientCheckedIn",
        "DoseAdministered",
        "VitalsRecorded",
        "ObservationRecorded",
        "VitalsRecorded",
        "DischargeRefused",
        "PatientDischarged",
    ]
    events = events_of(
        kafka_bootstrap, SESSION_EVENTS.name, patient_id, types=("PatientDischarged",)
    )
    assert [e.type.split(".")[2] for e in events] == expected
    assert [e.streamsequence for e in events] == list(range(1, len(expected) + 1))
    assert events[4].data["dose_mg_per_kg"] == 0.5 and events[4].data["within_policy_range"] is True
    assert events[4].actor == "clinician:c-1"
    assert events[-1].data["observation_minutes"] >= 120


def test_a_bp_above_140_over_90_defers_the_session(
    coordinator: Coordinator, services: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = course_for(coordinator, kafka_bootstrap)
    nurse = token(Role.NURSE)
    sid = httpx.post(
        f"{services.url}/courses/{patient_id}/dosing-sessions",
        json={"scheduled_for": at(10)},
        headers=nurse,
    ).json()["session_id"]

    deferred = httpx.post(
        f"{services.url}/dosing-sessions/{sid}/check-in",
        headers=nurse,
        json={
            "measured_at": at(1),
            "systolic": 141,
            "diastolic": 88,
            "heart_rate": 70,
            "spo2": 98,
            "weight_kg": 70,
        },
    )

    assert deferred.status_code == 200 and deferred.json()["status"] == "deferred"
    assert "141/88 mmHg is above 140/90" in deferred.json()["deferred_reason"]


def test_concurrent_conflicting_commands_on_one_session_give_one_success_and_one_409(
    coordinator: Coordinator, services: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = course_for(coordinator, kafka_bootstrap)
    nurse, clinician = token(Role.NURSE), token(Role.CLINICIAN)
    httpx.post(
        f"{services.url}/courses/{patient_id}/preparation-sessions",
        headers=token(Role.THERAPIST),
        json={"held_at": at(120), "intentions": ["rest"], "modality": "cbt"},
    ).raise_for_status()
    sid = httpx.post(
        f"{services.url}/courses/{patient_id}/dosing-sessions",
        json={"scheduled_for": at(30)},
        headers=nurse,
    ).json()["session_id"]
    httpx.post(
        f"{services.url}/dosing-sessions/{sid}/check-in",
        headers=nurse,
        json={
            "measured_at": at(20),
            "systolic": 120,
            "diastolic": 80,
            "heart_rate": 70,
            "spo2": 98,
            "weight_kg": 70,
        },
    ).raise_for_status()

    async def dose_twice() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=services.url, headers=clinician) as client:
            body = {"administered_at": at(5), "route": "im", "dose_mg": 50}
            return list(
                await asyncio.gather(
                    *(client.post(f"/dosing-sessions/{sid}/dose", json=body) for _ in range(2))
                )
            )

    responses = asyncio.run(dose_twice())

    assert sorted(r.status_code for r in responses) == [200, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert "monitoring, not checked_in" in refused.json()["detail"]
    events = events_of(
        kafka_bootstrap, SESSION_EVENTS.name, patient_id, types=("DoseAdministered",)
    )
    assert sum(e.type.endswith("DoseAdministered.v2") for e in events) == 1


def test_roles_each_do_their_part(
    coordinator: Coordinator, services: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = course_for(coordinator, kafka_bootstrap)
    body = {"held_at": at(10), "intentions": ["sleep"], "modality": "ifs"}
    assert (
        httpx.post(
            f"{services.url}/courses/{patient_id}/preparation-sessions",
            json=body,
            headers=token(Role.NURSE),
        ).status_code
        == 403
    )
    sid = httpx.post(
        f"{services.url}/courses/{patient_id}/dosing-sessions",
        json={"scheduled_for": at(5)},
        headers=token(Role.NURSE),
    ).json()["session_id"]
    dose = {"administered_at": at(1), "route": "oral", "dose_mg": 100}
    assert (
        httpx.post(
            f"{services.url}/dosing-sessions/{sid}/dose", json=dose, headers=token(Role.NURSE)
        ).status_code
        == 403
    )
    assert (
        httpx.get(
            f"{services.url}/courses/{patient_id}", headers=token(Role.INTAKE_COORDINATOR)
        ).status_code
        == 403
    )
