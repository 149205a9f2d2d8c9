"""The synthetic cohort: who each patient is and what happens to them, as a pure plan.

`plan_cohort(patients, seed, today)` is deterministic: the same three inputs give the same plan,
and the same `patients` and `seed` on another day give the same plan shifted by whole days
(`CohortPlan.fingerprint` is equal). The mix is set by shares with a floor, so any cohort of
10 or more has each kind of patient: ineligible, needs review (approved and declined), deferral,
adverse event, drop-out, completion (remitters, responders, non-responders), still in course.
"""

import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from random import Random
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from carepath.contracts.common import TherapyModality
from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision, ReviewScreening
from carepath.contracts.intake import (
    GiveConsent,
    RecordAssessment,
    Referral,
    SubmitIntakeForm,
)
from carepath.contracts.integration import DiscontinuationReason
from carepath.contracts.session import Route
from carepath.seed import patients, screening
from carepath.seed.course import CourseFate, CoursePlan, Ending, Patient, Trajectory, plan_course
from carepath.seed.screening import Finding
from carepath.seed.timeline import days_before

T = TypeVar("T")

SMALL_COHORT = 10  # from this size on, each kind of patient is there at least once
DROP_OUT_REASONS = (
    DiscontinuationReason.NON_RESPONSE,
    DiscontinuationReason.PATIENT_CHOICE,
    DiscontinuationReason.LOST_TO_FOLLOW_UP,
)
ROUTE_WEIGHTS = {Route.IV: 55, Route.IM: 25, Route.SUBLINGUAL: 20}
COORDINATORS = ("coord-nina", "coord-omar")
CLINICIANS = ("dr-hale", "dr-okafor", "dr-lindqvist")
NURSES = ("rn-sato", "rn-mbeki", "rn-costa")
THERAPISTS = {"th-rivera": "Ana Rivera", "th-novak": "Petr Novak", "th-adeyemi": "Tola Adeyemi"}


class CareTeam(BaseModel):
    """The staff (token subjects) who look after the patient."""

    model_config = ConfigDict(frozen=True)

    coordinator: str
    clinician: str
    nurse: str
    therapist: str


class PatientPlan(BaseModel):
    """One synthetic patient: intake, what screening should find, the review, the course."""

    model_config = ConfigDict(frozen=True)

    number: int
    team: CareTeam
    finding: Finding
    referral: Referral
    intake_form: SubmitIntakeForm
    assessments: tuple[RecordAssessment, ...]
    consent: GiveConsent
    baseline_phq9: int
    expected_outcome: EligibilityOutcome
    review: ReviewScreening | None = None
    course: CoursePlan | None = None


class CohortPlan(BaseModel):
    """The whole cohort, planned for runs on `today` (every charted time is before it)."""

    model_config = ConfigDict(frozen=True)

    seed: int
    today: date
    patients: tuple[PatientPlan, ...]

    def fingerprint(self) -> str:
        """A short hash of the plan with its dates counted from `today`: equal for equal
        `patients` and `seed`, whichever day the plan is made."""
        relative = _relative_to(self.model_dump(mode="json", exclude={"today"}), self.today)
        canonical = json.dumps(relative, sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:12]


@dataclass(frozen=True)
class Fate:
    """What the cohort decides for one patient before the details are drawn."""

    finding: Finding = Finding.NONE
    review: ReviewDecision | None = None
    course: CourseFate | None = None


def plan_cohort(patients: int, seed: int, today: date) -> CohortPlan:
    """The cohort of `patients` synthetic patients for `seed`, charted before `today`."""
    rng = Random(seed)  # noqa: S311 (synthetic patients, not secrets)
    fates = _fates(patients, rng)
    return CohortPlan(
        seed=seed,
        today=today,
        patients=tuple(
            _patient(number, fate, today, rng) for number, fate in enumerate(fates, start=1)
        ),
    )


def _share(count: int, fraction: float, floor: int) -> int:
    """`fraction` of `count`, at least `floor` once the cohort is not small."""
    share = round(count * fraction)
    return min(count, max(floor, share) if count >= SMALL_COHORT else share)


def _rotation(options: tuple[T, ...], count: int, rng: Random) -> list[T]:
    """`count` options, each used about equally often, in a random order."""
    order = rng.sample(options, k=len(options))
    return [order[i % len(order)] for i in range(count)]


def _fates(count: int, rng: Random) -> list[Fate]:
    ineligible = _share(count, 0.12, floor=2)
    review = _share(count - ineligible, 0.18, floor=3)
    declined = max(1, round(review * 0.3)) if review >= 2 else 0
    fates = [Fate(finding=f) for f in _rotation(screening.INELIGIBLE_FINDINGS, ineligible, rng)]
    flagged = _rotation(screening.REVIEW_FINDINGS, review, rng)
    fates += [Fate(finding=f, review=ReviewDecision.DECLINE) for f in flagged[:declined]]
    approved = [Fate(finding=f, review=ReviewDecision.APPROVE) for f in flagged[declined:]]
    treated = approved + [Fate() for _ in range(count - len(fates) - len(approved))]
    courses = _course_fates(len(treated), rng)
    fates += [replace(fate, course=c) for fate, c in zip(treated, courses, strict=True)]
    rng.shuffle(fates)
    return fates


def _course_fates(count: int, rng: Random) -> list[CourseFate]:
    adverse = 1 if count >= 3 else 0  # one adverse event in the cohort
    drop_outs = min(count - adverse, _share(count, 0.17, floor=2))
    in_course = min(count - adverse - drop_outs, round(count * 0.15))
    completers = count - adverse - drop_outs - in_course
    remitters = min(completers, max(1, round(completers * 0.3)) if completers >= 2 else 0)
    responders = min(
        completers - remitters, max(1, round(completers * 0.25)) if completers >= 3 else 0
    )
    trajectories = (
        [Trajectory.REMITTER] * remitters
        + [Trajectory.RESPONDER] * responders
        + [Trajectory.NON_RESPONDER] * (completers - remitters - responders)
    )
    rng.shuffle(trajectories)
    fates = [
        CourseFate(Ending.COMPLETED, trajectory, forced_deferral=n == 0)
        for n, trajectory in enumerate(trajectories)
    ]
    fates += [
        CourseFate(Ending.DISCONTINUED, Trajectory.NON_RESPONDER, reason=reason)
        for reason in _rotation(DROP_OUT_REASONS, drop_outs, rng)
    ]
    fates += [
        CourseFate(Ending.DISCONTINUED, _any_trajectory(rng), DiscontinuationReason.ADVERSE_EVENT)
        for _ in range(adverse)
    ]
    fates += [
        CourseFate(Ending.IN_PROGRESS, _any_trajectory(rng), misses_integration=n == 0)
        for n in range(in_course)
    ]
    rng.shuffle(fates)
    return fates


def _any_trajectory(rng: Random) -> Trajectory:
    # ORKA-1: 53.6% response, 28.9% remission
    return rng.choices(list(Trajectory), weights=(29, 25, 46))[0]


def _patient(number: int, fate: Fate, today: date, rng: Random) -> PatientPlan:
    finding = fate.finding
    reason = patients.referral_reason(finding, rng)
    baseline = patients.baseline_phq9_total(reason, rng)
    therapist = rng.choice(list(THERAPISTS))
    team = CareTeam(
        coordinator=rng.choice(COORDINATORS),
        clinician=rng.choice(CLINICIANS),
        nurse=rng.choice(NURSES),
        therapist=therapist,
    )
    bp = patients.resting_bp(finding, rng)
    course = None
    if fate.course is not None:
        adverse_event = fate.course.reason is DiscontinuationReason.ADVERSE_EVENT
        route = rng.choices(list(ROUTE_WEIGHTS), weights=list(ROUTE_WEIGHTS.values()))[0]
        patient = Patient(
            reason=reason,
            baseline_phq9=baseline,
            route=Route.IV if adverse_event else route,
            weight_kg=round(rng.uniform(52, 112), 1),
            deferral_prone=finding is Finding.SCREENING_BP_150_95,
            therapist=THERAPISTS[therapist],
            modality=rng.choice(list(TherapyModality)),
        )
        course = plan_course(fate.course, patient, today, rng)
    intake_day = days_before(today, (course.started_days_ago if course else 0) + rng.randint(5, 14))
    return PatientPlan(
        number=number,
        team=team,
        finding=finding,
        referral=patients.referral(finding, reason, today, rng),
        intake_form=patients.intake_form(finding, reason, rng, resting_bp=bp),
        assessments=patients.assessments(finding, reason, baseline, rng, at=intake_day),
        consent=patients.consent(intake_day, rng),
        baseline_phq9=baseline,
        expected_outcome=screening.expected_outcome(finding),
        review=screening.review(finding, fate.review) if fate.review else None,
        course=course,
    )


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def _relative_to(value: Any, today: date) -> Any:
    """`value` (JSON) with every date as days and every datetime as seconds from `today`."""
    if isinstance(value, dict):
        return {key: _relative_to(item, today) for key, item in value.items()}
    if isinstance(value, list):
        return [_relative_to(item, today) for item in value]
    if isinstance(value, str) and _ISO_DATE.match(value):
        return f"day {(date.fromisoformat(value) - today).days}"
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        moment = datetime.fromisoformat(value)
        midnight = datetime.combine(today, datetime.min.time(), tzinfo=moment.tzinfo)
        return f"second {int((moment - midnight).total_seconds())}"
    return value
