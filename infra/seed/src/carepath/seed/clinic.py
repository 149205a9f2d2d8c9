"""The clinic's staff carrying the cohort plan out over the services' public HTTP APIs.

One patient's steps run in order; several patients are in flight at once. A step that waits for
another service (screening after intake, the course after clearance, integration hearing of a
discharge) polls a read endpoint until its condition holds, or gives up at a deadline.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from pydantic import BaseModel

from carepath.chassis.auth import Role
from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision
from carepath.contracts.integration import RecordIntegrationSession, RecordOutcome
from carepath.contracts.session import RecordObservation, RecordVitals
from carepath.seed.calls import Calls, Refused, Staff, Tokens
from carepath.seed.cohort import CohortPlan, PatientPlan
from carepath.seed.course import CoursePlan, DosingStep
from carepath.seed.journey import Journey, planned_journey
from carepath.seed.today import Today

TODAYS_STATUS = {
    "monitoring": Today.IN_MONITORING,
    "deferred": Today.DEFERRED,
    "discharged": Today.DISCHARGED,
}
"""A dosing session's status (session service) as where today's visit stands."""


@dataclass(frozen=True)
class Endpoints:
    """Where the services listen; `integration` None means it is absent and its steps skipped."""

    intake: str
    eligibility: str
    session: str
    integration: str | None


class Diverged(Exception):
    """A service decided otherwise than the plan foresaw; the patient's journey stops there."""


@dataclass(frozen=True)
class Clinic:
    """The staff, their HTTP client, and how long to wait for another service."""

    endpoints: Endpoints
    client: httpx.AsyncClient
    tokens: Tokens
    deadline_seconds: float

    async def treat(self, patient: PatientPlan) -> Journey:
        """Take one patient as far as the plan goes; a refusal or surprise ends the journey."""
        care = PatientCare(self, patient)
        try:
            await care.run()
        except Refused as refused:
            care.journey.refusal = refused.refusal
        except Diverged as diverged:
            care.journey.surprises.append(str(diverged))
        return care.journey


async def treat_cohort(
    clinic: Clinic, plan: CohortPlan, in_flight: int, done: Callable[[Journey], None]
) -> list[Journey]:
    """Every patient of the plan, at most `in_flight` at a time; `done` hears of each."""
    gate = asyncio.Semaphore(in_flight)

    async def one(patient: PatientPlan) -> Journey:
        async with gate:
            journey = await clinic.treat(patient)
        done(journey)
        return journey

    return list(await asyncio.gather(*(one(patient) for patient in plan.patients)))


class PatientCare:
    """One patient's pathway, step by step, as the staff of their care team."""

    def __init__(self, clinic: Clinic, patient: PatientPlan) -> None:
        self.patient, self.urls = patient, clinic.endpoints
        self.calls = Calls(clinic.client, clinic.tokens, clinic.deadline_seconds, patient.number)
        self.journey = Journey(number=patient.number, integration_sessions=None)
        if self.urls.integration is not None:
            self.journey.integration_sessions = 0
        team = patient.team
        self.coordinator = (Role.INTAKE_COORDINATOR, team.coordinator)
        self.clinician, self.nurse = (Role.CLINICIAN, team.clinician), (Role.NURSE, team.nurse)
        self.therapist = (Role.THERAPIST, team.therapist)
        self.patient_id = ""
        self.discharged: list[str] = []

    async def run(self) -> None:
        await self.intake()
        if await self.screening() and self.patient.course is not None:
            await self.course(self.patient.course)

    async def intake(self) -> None:
        patient, base = self.patient, self.urls.intake
        created = await self.post(f"{base}/patients", self.coordinator, patient.referral)
        self.patient_id = self.journey.patient_id = str(created["patient_id"])
        self.journey.referred = True
        record = f"{base}/patients/{self.patient_id}"
        await self.calls.send(
            "PUT", f"{record}/intake-form", self.coordinator, patient.intake_form, 200
        )
        for assessment in patient.assessments:
            await self.post(f"{record}/assessments", self.coordinator, assessment)
        progress = await self.post(f"{record}/consents", self.coordinator, patient.consent)
        if progress["status"] != "complete":
            raise Diverged(f"intake still misses {progress['missing']} after consent")
        self.journey.intake_complete = True

    async def screening(self) -> bool:
        """Wait for the automatic screening, review it when flagged; True when cleared."""
        url = f"{self.urls.eligibility}/screenings/{self.patient_id}"

        async def determined() -> EligibilityOutcome | None:
            found = await self.calls.read(url, self.clinician)
            outcome = found and found.get("outcome")
            return EligibilityOutcome(outcome) if outcome else None

        outcome = await self.calls.wait_for(
            "eligibility to screen the completed intake", determined
        )
        self.journey.screening = outcome
        expected = self.patient.expected_outcome
        if outcome is not expected:
            raise Diverged(
                f"screening said {outcome}, the plan expected {expected} ({self.patient.finding})"
            )
        review = self.patient.review
        if outcome is EligibilityOutcome.NEEDS_REVIEW and review is not None:
            await self.post(f"{url}/reviews", self.clinician, review)
            self.journey.review = review.decision
        return (
            outcome is EligibilityOutcome.ELIGIBLE or self.journey.review is ReviewDecision.APPROVE
        )

    async def course(self, plan: CoursePlan) -> None:
        course_url = f"{self.urls.session}/courses/{self.patient_id}"
        await self.calls.wait_for(
            "the session service to open the course",
            lambda: self.calls.read(course_url, self.nurse),
        )
        self.journey.course_opened = True
        await self.post(f"{course_url}/preparation-sessions", self.therapist, plan.preparation)
        status = ""
        for step in plan.steps:
            status = await self.dosing(step)
        if plan.today is not None:
            self.journey.today = TODAYS_STATUS.get(status)
            if self.journey.today is not plan.today:
                raise Diverged(f"today's visit ended {status}, the plan expected {plan.today}")
        if plan.maintenance is not None:
            await self.post(f"{course_url}/maintenance", self.clinician, plan.maintenance)
            self.journey.maintenance = True
        if plan.next_booking is not None:
            await self.post(f"{course_url}/dosing-sessions", self.nurse, plan.next_booking)
        if self.urls.integration is not None:
            await self.end_of_course(plan, self.urls.integration)

    async def dosing(self, step: DosingStep) -> str:
        """One visit as planned, then the suspension and integration session after it; the
        session's status at the end of the visit."""
        visit, course_url = step.visit, f"{self.urls.session}/courses/{self.patient_id}"
        booked = await self.post(f"{course_url}/dosing-sessions", self.nurse, visit.booking)
        session = f"{self.urls.session}/dosing-sessions/{booked['session_id']}"
        checked = await self.post(f"{session}/check-in", self.nurse, visit.check_in, 200)
        status = "deferred" if visit.deferred else "checked_in"
        if checked["status"] != status:
            raise Diverged(
                f"check-in left the session {checked['status']}, the plan expected {status}"
            )
        if visit.dose is None:
            self.journey.deferrals += 1
            return str(checked["status"])
        answer = await self.post(f"{session}/dose", self.clinician, visit.dose, 200)
        self.journey.doses += 1
        for item in visit.monitoring:
            match item:
                case RecordVitals():
                    answer = await self.post(f"{session}/vitals", self.nurse, item)
                case RecordObservation():
                    answer = await self.post(f"{session}/observations", self.nurse, item)
                case _:
                    answer = await self.post(f"{session}/adverse-events", self.nurse, item)
                    self.journey.adverse_events += 1
        if visit.discharge is None:
            return str(answer["status"])  # still in post-dose monitoring
        answer = await self.post(f"{session}/discharge", self.clinician, visit.discharge, 200)
        self.journey.discharges += 1
        self.discharged.append(str(booked["session_id"]))
        if step.suspension is not None:
            await self.post(f"{course_url}/suspension", self.clinician, step.suspension, 200)
        if step.integration is not None and self.urls.integration is not None:
            await self.integrate(step.integration, str(booked["session_id"]), self.urls.integration)
        return str(answer["status"])

    async def integrate(
        self, integration: RecordIntegrationSession, session_id: str, base: str
    ) -> None:
        """Chart the integration session once integration knows the discharge it follows."""
        plan_url = f"{base}/plans/{self.patient_id}"

        async def waiting() -> bool | None:
            plan = await self.calls.read(plan_url, self.therapist)
            waiting = {due["dosing_session_id"] for due in plan["waiting"]} if plan else set()
            return True if session_id in waiting else None

        await self.calls.wait_for("integration to hear of the discharge", waiting)
        body = integration.model_copy(update={"dosing_session_id": UUID(session_id)})
        await self.post(f"{plan_url}/integration-sessions", self.therapist, body)
        self.journey.integration_sessions = (self.journey.integration_sessions or 0) + 1

    async def end_of_course(self, plan: CoursePlan, base: str) -> None:
        if plan.final_outcome is not None:
            await self.measure_final_outcome(plan.final_outcome, base)
        if plan.indication_outcome is not None:  # GAD-7, PCL-5 or pain: completion needs it
            url = f"{base}/patients/{self.patient_id}/outcomes"
            await self.post(url, self.clinician, plan.indication_outcome)
        course_url = f"{base}/courses/{self.patient_id}"
        if plan.completion is not None:
            await self.post(f"{course_url}/completion", self.clinician, plan.completion, 200)
            self.journey.completed = True
        if (discontinuation := plan.discontinuation) is not None:

            async def discontinued() -> bool | None:
                # 404 until integration has heard that the course opened
                url, who = f"{course_url}/discontinuation", self.clinician
                answer = await self.calls.send(
                    "POST", url, who, discontinuation, 200, waiting_for=404
                )
                return None if answer is None else True

            await self.calls.wait_for("integration to hear of the course", discontinued)
            self.journey.discontinued = discontinuation.reason

    async def measure_final_outcome(self, outcome: RecordOutcome, base: str) -> None:
        """The end-of-course PHQ-9, once integration knows every discharge (completion needs
        it measured after the last one)."""
        await self.calls.wait_for(
            "integration to hear of every discharge", lambda: self.every_discharge_known(base)
        )
        url = f"{base}/patients/{self.patient_id}/outcomes"
        measured = await self.post(url, self.clinician, outcome)
        said = (measured["response"], measured["remission"])
        self.journey.response, self.journey.remission = said
        expected = planned_journey(self.patient)
        if said != (expected.response, expected.remission):
            self.journey.surprises.append(
                f"PHQ-9 {self.patient.baseline_phq9} -> {measured['total']}: the service said "
                f"response {said[0]}, remission {said[1]}; the plan expected "
                f"{expected.response}, {expected.remission}"
            )

    async def post(self, url: str, who: Staff, body: BaseModel, expect: int = 201) -> Any:
        return await self.calls.send("POST", url, who, body, expect)

    async def every_discharge_known(self, base: str) -> bool | None:
        plan = await self.calls.read(f"{base}/plans/{self.patient_id}", self.therapist)
        known = len(plan["waiting"]) + plan["integration_sessions"] if plan else 0
        return True if known >= len(self.discharged) else None
