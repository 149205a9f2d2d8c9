"""What happens in a patient's course: a preparation session, dosing sessions twice a week (some
deferred for blood pressure), an integration session within 72 hours of most discharges, and the
end: completed with a final PHQ-9, discontinued with a reason, or still in progress. Pure.

Days are counted from the preparation session (day 0), which lies 1-6 weeks before `today`;
every charted time falls on a day before `today`, so it is in the past whenever the plan runs.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from random import Random

from pydantic import BaseModel, ConfigDict

from carepath.contracts.common import Instrument, TherapyModality
from carepath.contracts.intake import ReferralReason
from carepath.contracts.integration import (
    CompleteCourse,
    DiscontinuationReason,
    DiscontinueCourse,
    IntegrationPractice,
    OutcomeTimepoint,
    RecordIntegrationSession,
    RecordOutcome,
)
from carepath.contracts.session import (
    CourseSuspensionReason,
    RecordPreparationSession,
    Route,
    ScheduleDosingSession,
    SuspendCourse,
)
from carepath.seed import questionnaires
from carepath.seed.dosing import DosingVisit, deferred_visit, dosed_visit
from carepath.seed.timeline import clinic_time
from carepath.seed.wording import DISCONTINUATION_DETAILS, INTENTIONS, PRACTICES, THEMES

PLANNED_DOSES = 6  # the session service's induction plan (clinic policy default)
LONGEST_AGO = 42  # courses started at most 6 weeks ago ...
SHORTEST_AGO = 7  # ... and at least 1 week ago


class Ending(StrEnum):
    """How the course stands at the end of the plan."""

    COMPLETED = "completed"
    DISCONTINUED = "discontinued"
    IN_PROGRESS = "in_progress"


class Trajectory(StrEnum):
    """Where the patient's PHQ-9 heads: below 5, halved, or not halved."""

    REMITTER = "remitter"
    RESPONDER = "responder"
    NON_RESPONDER = "non_responder"


@dataclass(frozen=True)
class CourseFate:
    """What the cohort decided for this patient's course."""

    ending: Ending
    trajectory: Trajectory
    reason: DiscontinuationReason | None = None
    forced_deferral: bool = False
    misses_integration: bool = False


@dataclass(frozen=True)
class Patient:
    """The facts about the patient a course needs."""

    reason: ReferralReason
    baseline_phq9: int
    route: Route
    weight_kg: float
    deferral_prone: bool
    therapist: str
    modality: TherapyModality


class DosingStep(BaseModel):
    """A dosing session and the integration session that follows it (None: missed, or not held
    yet because it is not due)."""

    model_config = ConfigDict(frozen=True)

    visit: DosingVisit
    integration: RecordIntegrationSession | None = None


class CoursePlan(BaseModel):
    """Everything staff will chart for the course, in order."""

    model_config = ConfigDict(frozen=True)

    ending: Ending
    trajectory: Trajectory
    started_days_ago: int
    preparation: RecordPreparationSession
    steps: tuple[DosingStep, ...]
    next_booking: ScheduleDosingSession | None = None
    suspension: SuspendCourse | None = None
    final_outcome: RecordOutcome | None = None
    completion: CompleteCourse | None = None
    discontinuation: DiscontinueCourse | None = None

    @property
    def doses(self) -> int:
        return sum(not step.visit.deferred for step in self.steps)


def plan_course(fate: CourseFate, patient: Patient, today: date, rng: Random) -> CoursePlan:
    """The course of one patient, as it should be charted."""
    slots = _slots(fate, patient, rng)
    last_day = slots[-1][0] if slots else 0
    end_day = _end_day(fate, last_day, rng)
    if fate.ending is Ending.IN_PROGRESS:
        ago = rng.randint(9, 16)
        slots = [slot for slot in slots if slot[0] < ago][: PLANNED_DOSES - 1]
    else:
        ago = rng.randint(max(SHORTEST_AGO, end_day + 1), max(LONGEST_AGO, end_day + 1))
    start = today - timedelta(days=ago)
    final_total = _final_phq9(fate, patient.baseline_phq9, rng)
    steps = _steps(fate, patient, slots, start, today, final_total, rng)
    plan = CoursePlan(
        ending=fate.ending,
        trajectory=fate.trajectory,
        started_days_ago=ago,
        preparation=_preparation(patient, start, rng),
        steps=tuple(steps),
    )
    return _ending(plan, fate, patient, start + timedelta(days=end_day), final_total, today, rng)


def _slots(fate: CourseFate, patient: Patient, rng: Random) -> list[tuple[int, bool]]:
    """(day, deferred) of each dosing visit: twice a week, a deferred one rebooked 1-2 days on."""
    doses = _doses(fate, rng)
    defer_chance = 0.3 if patient.deferral_prone else 0.03
    forced_at = min(1, doses - 1) if fate.forced_deferral else -1
    gaps, day, dosed = rng.choice(((3, 4), (4, 3))), rng.randint(2, 5), 0
    slots: list[tuple[int, bool]] = []
    while dosed < doses:
        after_deferral = bool(slots) and slots[-1][1]
        deferred = not after_deferral and (dosed == forced_at or rng.random() < defer_chance)
        slots.append((day, deferred))
        if deferred:
            forced_at, day = -1, day + rng.randint(1, 2)
            continue
        dosed += 1
        day += gaps[dosed % 2]
    return slots


def _doses(fate: CourseFate, rng: Random) -> int:
    match fate.reason:
        case DiscontinuationReason.PATIENT_CHOICE:
            return rng.randint(0, 3)
        case DiscontinuationReason.LOST_TO_FOLLOW_UP:
            return rng.randint(1, 3)
        case DiscontinuationReason.NON_RESPONSE:
            return 4
        case DiscontinuationReason.ADVERSE_EVENT:
            return rng.randint(2, 4)
    return PLANNED_DOSES


def _end_day(fate: CourseFate, last_day: int, rng: Random) -> int:
    match fate.reason:
        case DiscontinuationReason.PATIENT_CHOICE:
            return last_day + rng.randint(3, 7)
        case DiscontinuationReason.LOST_TO_FOLLOW_UP:
            return last_day + rng.randint(14, 21)
        case DiscontinuationReason.NON_RESPONSE:
            return last_day + 3
        case DiscontinuationReason.ADVERSE_EVENT:
            return last_day + rng.randint(1, 3)
    return last_day + rng.randint(3, 4)  # the final PHQ-9, after the last integration session


def _final_phq9(fate: CourseFate, baseline: int, rng: Random) -> int:
    """The PHQ-9 the course heads for: below 5, at most half the baseline, or more than half."""
    if fate.reason is DiscontinuationReason.NON_RESPONSE:
        return rng.randint(baseline - 4, baseline - 1)
    match fate.trajectory:
        case Trajectory.REMITTER:
            return rng.randint(1, 4)
        case Trajectory.RESPONDER:
            return rng.randint(5, baseline // 2)
    return rng.randint(baseline // 2 + 1, baseline - 2)


def _steps(
    fate: CourseFate,
    patient: Patient,
    slots: list[tuple[int, bool]],
    start: date,
    today: date,
    final_total: int,
    rng: Random,
) -> list[DosingStep]:
    steps, dosed = [], 0
    weights = [round(patient.weight_kg + rng.uniform(-0.6, 0.6), 1) for _ in slots]
    ae_dose = (
        len([s for s in slots if not s[1]])
        if fate.reason is DiscontinuationReason.ADVERSE_EVENT
        else 0
    )
    for (day, deferred), weight in zip(slots, weights, strict=True):
        on = start + timedelta(days=day)
        progress = dosed / PLANNED_DOSES
        expected = patient.baseline_phq9 + (final_total - patient.baseline_phq9) * progress
        pre_dose = min(24, max(0, round(expected) + rng.randint(-1, 1)))
        if deferred:
            steps.append(DosingStep(visit=deferred_visit(on, weight, pre_dose, rng)))
            continue
        dosed += 1
        visit = dosed_visit(
            on, patient.route, dosed, weight, pre_dose, rng, adverse_event=dosed == ae_dose
        )
        missed = (fate.misses_integration and dosed == 1) or rng.random() < 0.04
        if fate.reason is DiscontinuationReason.LOST_TO_FOLLOW_UP and dosed == len(weights):
            missed = True  # the patient stopped coming after the last session
        integration = None if missed else _integration(visit, patient, today, rng)
        steps.append(DosingStep(visit=visit, integration=integration))
    return steps


def _integration(
    visit: DosingVisit, patient: Patient, today: date, rng: Random
) -> RecordIntegrationSession | None:
    """The integration session 1-2 days after the discharge (within 72 h); None while it lies
    on or after `today` (due, not held yet)."""
    assert visit.discharge is not None
    day = visit.discharge.discharged_at.date() + timedelta(days=rng.randint(1, 2))
    held_at = clinic_time(day, rng.randint(9, 16), rng.choice((0, 30)))
    themes = rng.sample(THEMES, k=rng.randint(1, 3))
    practices = rng.sample(list(IntegrationPractice), k=rng.randint(1, 2))
    if day >= today:
        return None
    return RecordIntegrationSession(
        held_at=held_at,
        therapist=patient.therapist,
        modality=patient.modality,
        practices_assigned=practices,
        themes=themes,
        notes=f"Explored imagery from the session around {themes[0]}; "
        f"agreed {practices[0].value.replace('_', ' ')} between sessions.",
    )


def _preparation(patient: Patient, start: date, rng: Random) -> RecordPreparationSession:
    intentions = INTENTIONS[patient.reason]
    return RecordPreparationSession(
        held_at=clinic_time(start, rng.randint(10, 15)),
        intentions=rng.sample(intentions, k=rng.randint(1, min(3, len(intentions)))),
        mindfulness_practice=rng.choice(PRACTICES),
        modality=patient.modality,
        therapist_notes="Set and setting discussed; what to expect from dissociation; "
        "escort and no driving until the next day agreed.",
    )


def _ending(
    plan: CoursePlan,
    fate: CourseFate,
    patient: Patient,
    end: date,
    final_total: int,
    today: date,
    rng: Random,
) -> CoursePlan:
    if fate.ending is Ending.IN_PROGRESS:
        booked = clinic_time(today + timedelta(days=rng.randint(1, 3)), 9)
        return plan.model_copy(update={"next_booking": ScheduleDosingSession(scheduled_for=booked)})
    measured_at = clinic_time(end, rng.randint(9, 15), rng.choice((0, 30)))
    changes: dict[str, object] = {}
    if fate.ending is Ending.COMPLETED or fate.reason is DiscontinuationReason.NON_RESPONSE:
        changes["final_outcome"] = RecordOutcome(
            instrument=Instrument.PHQ9,
            answers=questionnaires.phq9(final_total, rng),
            measured_at=measured_at,
            timepoint=OutcomeTimepoint.END_OF_COURSE,
        )
    later = measured_at + timedelta(minutes=30)
    if fate.ending is Ending.COMPLETED:
        changes["completion"] = CompleteCourse(
            completed_at=later,
            summary=f"{plan.doses} {patient.route.value} dosing sessions; PHQ-9 "
            f"{patient.baseline_phq9} at baseline, {final_total} at the end of the course.",
        )
        return plan.model_copy(update=changes)
    assert fate.reason is not None
    if fate.reason is DiscontinuationReason.ADVERSE_EVENT:
        changes["suspension"] = SuspendCourse(
            reason=CourseSuspensionReason.CLINICIAN_DECISION,
            rationale="Severe hypertensive response during the infusion; no further dosing "
            "until a medical review.",
        )
    changes["discontinuation"] = DiscontinueCourse(
        discontinued_at=later, reason=fate.reason, details=DISCONTINUATION_DETAILS[fate.reason]
    )
    return plan.model_copy(update=changes)
