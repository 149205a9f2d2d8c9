"""The whole pathway, end to end: four services as separate processes on the real broker, one
patient from referral to course completion through HTTP only."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from clinic import CONSENT, FORM, NO_RISK_CSSRS, events_of, referral

from carepath.chassis.auth import Role
from carepath.contracts.topics import (
    ELIGIBILITY_EVENTS,
    INTAKE_EVENTS,
    INTEGRATION_EVENTS,
    SESSION_EVENTS,
)
from support import ServiceProcess, token, wait_until

pytestmark = pytest.mark.broker

TRACE_ID = "5e1f2a3b4c5d6e7f8091a2b3c4d5e6f7"
TRACEPARENT = f"00-{TRACE_ID}-a1b2c3d4e5f60718-01"


def ago(days: float = 0, minutes: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(days=days, minutes=minutes)).isoformat()


class Staff:
    def __init__(self, url: str, role: Role, user: str, **headers: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={**token(role, user), **headers}, timeout=30
        )

    def __call__(
        self, method: str, path: str, body: dict[str, Any] | None = None, expected: int = 200
    ) -> Any:
        response = self.client.request(method, path, json=body)
        assert response.status_code == expected, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json()


@pytest.fixture(scope="module")
def system(
    intake_service: ServiceProcess,
    eligibility_service: ServiceProcess,
    session_service: ServiceProcess,
    integration_service: ServiceProcess,
) -> dict[str, str]:
    return {
        "intake": intake_service.url,
        "eligibility": eligibility_service.url,
        "session": session_service.url,
        "integration": integration_service.url,
    }


def test_one_patient_from_referral_to_course_completion(
    system: dict[str, str], kafka_bootstrap: str
) -> None:
    # Intake: the coordinator's browser keeps one trace for the patient's intake.
    coordinator = Staff(
        system["intake"], Role.INTAKE_COORDINATOR, "coordinator-1", traceparent=TRACEPARENT
    )
    patient = coordinator("POST", "/patients", referral(), 201)["patient_id"]
    coordinator("PUT", f"/patients/{patient}/intake-form", FORM)
    coordinator(
        "POST",
        f"/patients/{patient}/assessments",
        {"instrument": "PHQ9", "answers": [3, 3, 2, 2, 2, 2, 2, 2, 0]},
        201,
    )
    coordinator("POST", f"/patients/{patient}/assessments", NO_RISK_CSSRS, 201)
    assert (
        coordinator("POST", f"/patients/{patient}/consents", CONSENT, 201)["status"] == "complete"
    )

    # Eligibility decides by itself; the session service opens the course by itself.
    [opened] = events_of(kafka_bootstrap, SESSION_EVENTS.name, patient, types=("CourseOpened",))
    therapist = Staff(system["session"], Role.THERAPIST, "therapist-1")
    nurse = Staff(system["session"], Role.NURSE, "nurse-1")
    clinician = Staff(system["session"], Role.CLINICIAN, "clinician-1")
    therapist(
        "POST",
        f"/courses/{patient}/preparation-sessions",
        {"held_at": ago(days=22), "intentions": ["Feel joy again"], "modality": "act"},
        201,
    )

    planned = opened.data["planned_dosing_sessions"]
    for number in range(planned):
        day = 20 - 3 * number  # twice a week, the last one 5 days ago
        sid = nurse(
            "POST",
            f"/courses/{patient}/dosing-sessions",
            {"scheduled_for": ago(days=day, minutes=-60)},
            201,
        )["session_id"]
        nurse(
            "POST",
            f"/dosing-sessions/{sid}/check-in",
            {
                "measured_at": ago(days=day),
                "systolic": 124,
                "diastolic": 80,
                "heart_rate": 70,
                "spo2": 98,
                "weight_kg": 72.0,
            },
        )
        clinician(
            "POST",
            f"/dosing-sessions/{sid}/dose",
            {
                "administered_at": ago(days=day, minutes=-10),
                "route": "iv",
                "dose_mg": 36,
                "infusion_minutes": 40,
            },
        )
        nurse(
            "POST",
            f"/dosing-sessions/{sid}/vitals",
            {
                "measured_at": ago(days=day, minutes=-60),
                "systolic": 138,
                "diastolic": 86,
                "heart_rate": 80,
                "spo2": 97,
            },
            201,
        )
        nurse(
            "POST",
            f"/dosing-sessions/{sid}/vitals",
            {
                "measured_at": ago(days=day, minutes=-165),
                "systolic": 122,
                "diastolic": 78,
                "heart_rate": 68,
                "spo2": 98,
            },
            201,
        )
        assert (
            clinician(
                "POST",
                f"/dosing-sessions/{sid}/discharge",
                {
                    # two hours after the 40-minute infusion ended
                    "discharged_at": ago(days=day, minutes=-175),
                    "readiness_confirmed": True,
                    "escort_confirmed": True,
                    "no_driving_advised": True,
                },
            )["status"]
            == "discharged"
        )

    # Integration: a session due after each discharge, held within 72 hours.
    integration = Staff(system["integration"], Role.THERAPIST, "therapist-1")
    wait_until(
        lambda: len(integration("GET", f"/plans/{patient}")["waiting"]) == planned,
        timeout=60,
        what="an integration session due for every discharge",
    )
    for number in range(planned):
        day = 20 - 3 * number - 1
        integration(
            "POST",
            f"/plans/{patient}/integration-sessions",
            {
                "held_at": ago(days=day),
                "therapist": "therapist-1",
                "modality": "act",
                "practices_assigned": ["journaling"],
                "themes": ["family"],
            },
            201,
        )
    outcome = Staff(system["integration"], Role.CLINICIAN, "clinician-1")
    final = outcome(
        "POST",
        f"/patients/{patient}/outcomes",
        {
            "instrument": "PHQ9",
            "answers": [1, 1, 0, 0, 1, 0, 0, 0, 0],
            "measured_at": ago(days=1),
            "timepoint": "end_of_course",
        },
        201,
    )
    assert (final["total"], final["baseline_total"], final["response"], final["remission"]) == (
        3,
        18,
        True,
        True,
    )
    done = outcome("POST", f"/courses/{patient}/completion", {"completed_at": ago(minutes=5)})
    assert done["completed_at"] is not None

    # Each context's topic holds the patient's events, in order.
    intake_types = [
        e.type.split(".")[2]
        for e in events_of(kafka_bootstrap, INTAKE_EVENTS.name, patient, types=("IntakeCompleted",))
    ]
    assert intake_types == [
        "PatientReferred",
        "IntakeFormSubmitted",
        "AssessmentScored",
        "SuicideRiskScreened",
        "ConsentGiven",
        "IntakeCompleted",
    ]
    eligibility = events_of(
        kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient, types=("EligibilityDetermined",)
    )
    assert [e.type.split(".")[2] for e in eligibility] == [
        "ScreeningStarted",
        "EligibilityDetermined",
    ]
    session = events_of(kafka_bootstrap, SESSION_EVENTS.name, patient, types=("CourseEnded",))
    per_session = [
        "DosingSessionScheduled",
        "PatientCheckedIn",
        "DoseAdministered",
        "VitalsRecorded",
        "VitalsRecorded",
        "PatientDischarged",
    ]
    assert [e.type.split(".")[2] for e in session] == [
        "CourseOpened",
        "PreparationSessionCompleted",
        *per_session * planned,
        "CourseEnded",  # integration completed it; the session service closes the course
    ]
    late = nurse.client.post(f"/courses/{patient}/dosing-sessions", json={"scheduled_for": ago()})
    assert late.status_code == 409 and "has ended (completed)" in late.json()["detail"]
    integrated = events_of(
        kafka_bootstrap, INTEGRATION_EVENTS.name, patient, types=("CourseCompleted",)
    )
    names = [e.type.split(".")[2] for e in integrated]
    assert (
        names.count("IntegrationSessionDue") == planned
        and names.count("IntegrationSessionCompleted") == planned
    )
    assert (
        names[-2:] == ["OutcomeMeasured", "CourseCompleted"]
        and "IntegrationSessionOverdue" not in names
    )
    for events in (eligibility, session, integrated):
        assert [e.streamsequence for e in events] == list(range(1, len(events) + 1))
    completed = integrated[-1].data
    assert (
        completed["dosing_sessions_completed"],
        completed["response"],
        completed["remission"],
    ) == (planned, True, True)

    # One trace links the referral request to the eligibility decision.
    referred = events_of(kafka_bootstrap, INTAKE_EVENTS.name, patient)[0]
    decided = eligibility[-1]
    assert referred.traceparent is not None and referred.traceparent.split("-")[1] == TRACE_ID
    assert decided.traceparent is not None and decided.traceparent.split("-")[1] == TRACE_ID


def test_completion_and_discontinuation_are_refused_with_the_reason(
    system: dict[str, str], kafka_bootstrap: str
) -> None:
    from clinic import Coordinator

    patient = Coordinator(system["intake"]).complete_intake()
    clinician = Staff(system["integration"], Role.CLINICIAN, "clinician-2")
    wait_until(
        lambda: events_of(kafka_bootstrap, SESSION_EVENTS.name, patient, types=("CourseOpened",)),
        timeout=60,
        what="the course to open",
    )

    def course_known() -> bool:
        response = clinician.client.post(
            f"/courses/{patient}/completion", json={"completed_at": ago(minutes=1)}
        )
        return response.status_code == 409

    wait_until(course_known, timeout=60, what="integration to learn of the course")
    early = clinician.client.post(
        f"/courses/{patient}/completion", json={"completed_at": ago(minutes=1)}
    )
    assert early.status_code == 409 and "0 of 6 planned dosing sessions" in early.json()["detail"]

    stopped = clinician(
        "POST",
        f"/courses/{patient}/discontinuation",
        {"discontinued_at": ago(minutes=1), "reason": "patient_choice", "details": "moving abroad"},
    )
    assert stopped["discontinued"] == "patient_choice"
    again = clinician.client.post(
        f"/courses/{patient}/discontinuation",
        json={"discontinued_at": ago(), "reason": "non_response"},
    )
    assert again.status_code == 409 and "discontinued" in again.json()["detail"]
