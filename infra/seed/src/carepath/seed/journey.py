"""A patient's journey through the clinic: how far they got, as the services answered, or as the
plan intends (`planned_journey`), so the two can be compared stage by stage."""

from dataclasses import dataclass, field
from typing import Any

from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision
from carepath.contracts.integration import DiscontinuationReason
from carepath.seed.cohort import PatientPlan
from carepath.seed.today import Today

RESPONSE_THRESHOLD_PERCENT = 50  # integration's clinic policy defaults (DOMAIN.md, Integration)
REMISSION_BELOW = 5


@dataclass(frozen=True)
class Refusal:
    """An answer the plan did not expect, with the request that got it."""

    patient: int
    method: str
    url: str
    body: Any
    status: int
    answer: str


@dataclass
class Journey:
    """How far one patient got. `integration_sessions` is None when integration was skipped;
    `today`: where today's visit stood when the seed finished."""

    number: int
    patient_id: str | None = None
    referred: bool = False
    intake_complete: bool = False
    screening: EligibilityOutcome | None = None
    review: ReviewDecision | None = None
    course_opened: bool = False
    doses: int = 0
    deferrals: int = 0
    discharges: int = 0
    adverse_events: int = 0
    integration_sessions: int | None = 0
    completed: bool = False
    discontinued: DiscontinuationReason | None = None
    response: bool | None = None
    remission: bool | None = None
    maintenance: bool | None = None
    today: Today | None = None
    refusal: Refusal | None = None
    surprises: list[str] = field(default_factory=list)

    @property
    def in_course(self) -> bool:
        return self.course_opened and not self.completed and self.discontinued is None


def responded(baseline: int, total: int) -> bool:
    """A reduction of at least the policy threshold from the baseline (integer arithmetic)."""
    return (baseline - total) * 100 >= RESPONSE_THRESHOLD_PERCENT * baseline


def planned_journey(patient: PatientPlan) -> Journey:
    """The journey the plan intends for `patient`, when every service takes part."""
    review = patient.review.decision if patient.review else None
    journey = Journey(
        number=patient.number,
        referred=True,
        intake_complete=True,
        screening=patient.expected_outcome,
        review=review,
    )
    course = patient.course
    if course is None:
        return journey
    visits = [step.visit for step in course.steps]
    journey.course_opened = True
    journey.doses, journey.discharges = course.doses, course.discharges
    journey.today = course.today
    journey.deferrals = sum(visit.deferred for visit in visits)
    journey.adverse_events = sum(visit.adverse_events for visit in visits)
    journey.integration_sessions = sum(step.integration is not None for step in course.steps)
    journey.completed = course.completion is not None
    journey.maintenance = course.maintenance is not None or None
    journey.discontinued = course.discontinuation.reason if course.discontinuation else None
    if course.final_outcome is not None:
        total = sum(course.final_outcome.answers)
        journey.response = responded(patient.baseline_phq9, total)
        journey.remission = total < REMISSION_BELOW
    return journey
