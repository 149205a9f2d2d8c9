"""The synthetic cohort: who each patient is and what happens to them, as a pure plan.

`plan_cohort(patients, seed, now, zone)` is deterministic: the same four inputs give the same
plan. Each patient's history runs in pathway order in clinical time: referral, then the intake
form, questionnaires and consent over the following days, the review, the course and its end,
every charted time before `now`. Past days are charted at clinic hours in the clinic's time zone
`zone`; a few patients' courses reach today, with a visit counted back from `now` (`today`). The
same `patients` and `seed` on another day, at another time or in another zone chart the same
history shifted (`CohortPlan.fingerprint` is equal), unless the clinic day had only just begun:
then today's visits are pressed into it. The mix is set by shares with a floor, so any cohort
of 10 or more has each kind of patient: ineligible, needs review (approved and declined),
deferral, adverse event, drop-out, completion (remitters, responders, non-responders), still in
course, and on today's board: in post-dose monitoring, deferred for BP, discharged.
"""

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from random import Random
from typing import TypeVar
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

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
from carepath.seed.course import (
    INDICATION_INSTRUMENT,
    CourseFate,
    CoursePlan,
    Ending,
    Patient,
    Trajectory,
    plan_course,
    with_indication_outcome,
)
from carepath.seed.screening import Finding
from carepath.seed.timeline import ClinicClock
from carepath.seed.today import Today

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
    """The whole cohort, planned at `now` (to the minute) for a clinic in `timezone`: every
    charted time lies before `now`."""

    model_config = ConfigDict(frozen=True)

    seed: int
    now: AwareDatetime
    timezone: str
    patients: tuple[PatientPlan, ...]

    @property
    def clock(self) -> ClinicClock:
        return ClinicClock(self.now, ZoneInfo(self.timezone))

    @property
    def today(self) -> date:
        """The clinic's date at `now`."""
        return self.clock.today

    def fingerprint(self) -> str:
        """A short hash of the plan with its times told from `now` and the clinic's today:
        equal for equal `patients` and `seed`, whenever and wherever the plan is made (unless
        the clinic day had only just begun, which presses today's visits into it)."""
        plan = self.model_dump(mode="json", exclude={"now", "timezone"})
        canonical = json.dumps(self.clock.relative(plan), sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:12]


@dataclass(frozen=True)
class Fate:
    """What the cohort decides for one patient before the details are drawn."""

    finding: Finding = Finding.NONE
    review: ReviewDecision | None = None
    course: CourseFate | None = None


def plan_cohort(patients: int, seed: int, now: datetime, zone: ZoneInfo) -> CohortPlan:
    """The cohort of `patients` synthetic patients for `seed`, charted before `now` (aware) by
    a clinic in time zone `zone`."""
    clock = ClinicClock(now.replace(second=0, microsecond=0), zone)
    rng = Random(seed)  # noqa: S311 (synthetic patients, not secrets)
    fates = _fates(patients, rng)
    return CohortPlan(
        seed=seed,
        now=clock.now,
        timezone=zone.key,
        patients=tuple(
            _patient(number, fate, clock, rng) for number, fate in enumerate(fates, start=1)
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
    courses = _course_fates(len(treated), _today_roles(count), rng)
    fates += [replace(fate, course=c) for fate, c in zip(treated, courses, strict=True)]
    rng.shuffle(fates)
    return fates


def _today_roles(cohort: int) -> list[Today]:
    """Who is on today's board: about 6% of the cohort in post-dose monitoring, one deferred
    for BP and one discharged per 50 patients; each at least once in a cohort of 10 or more."""
    monitoring = _share(cohort, 0.06, floor=1)
    once = _share(cohort, 0.02, floor=1)
    return [Today.IN_MONITORING] * monitoring + [Today.DEFERRED, Today.DISCHARGED] * once


def _course_fates(count: int, today: list[Today], rng: Random) -> list[CourseFate]:
    adverse = 1 if count >= 3 else 0  # one adverse event in the cohort
    drop_outs = min(count - adverse, _share(count, 0.17, floor=2))
    today = today[: count - adverse - drop_outs]
    in_course = min(count - adverse - drop_outs, len(today) + int(count * 0.08))
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
    # One completer goes on to a maintenance phase instead: one whose trajectory another
    # completer shares, so every kind of result still completes (no draw: the rest stays).
    maintained = next(
        (n for n, t in enumerate(trajectories) if n > 0 and trajectories.count(t) > 1), None
    )
    fates = [
        CourseFate(
            Ending.COMPLETED, trajectory, forced_deferral=n == 0, maintenance=n == maintained
        )
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
    roles: list[Today | None] = [*today, *[None] * (in_course - len(today))]
    fates += [
        CourseFate(Ending.IN_PROGRESS, _any_trajectory(rng), misses_integration=n == 0, today=role)
        for n, role in enumerate(roles)
    ]
    rng.shuffle(fates)
    return fates


def _any_trajectory(rng: Random) -> Trajectory:
    # ORKA-1: 53.6% response, 28.9% remission
    return rng.choices(list(Trajectory), weights=(29, 25, 46))[0]


@dataclass(frozen=True)
class IntakeDays:
    """The days of the intake: referral, form, the intake appointment (questionnaires and
    consent, which completes the intake), the clinician's review."""

    referred: date
    form: date
    appointment: date
    reviewed: date


def _intake_days(
    fate: Fate, clock: ClinicClock, course_start: date | None, rng: Random
) -> IntakeDays:
    """Referral, then the form 1-3 days on, the appointment 1-3 days after that, a review 1-3
    days later; a course opens there and its preparation session follows 2-5 days on. Without
    a course, the appointment was 5-14 days ago."""
    form_gap, appointment_gap = rng.randint(1, 3), rng.randint(1, 3)
    review_gap = rng.randint(1, 3) if fate.review is not None else 0
    if course_start is not None:
        appointment = course_start - timedelta(days=rng.randint(2, 5) + review_gap)
    else:
        appointment = clock.days_before(rng.randint(5, 14))
    form = appointment - timedelta(days=appointment_gap)
    return IntakeDays(
        referred=form - timedelta(days=form_gap),
        form=form,
        appointment=appointment,
        reviewed=appointment + timedelta(days=review_gap),
    )


def _patient(number: int, fate: Fate, clock: ClinicClock, rng: Random) -> PatientPlan:
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
        course = plan_course(fate.course, patient, clock, rng)
    start = clock.days_before(course.started_days_ago) if course else None
    days = _intake_days(fate, clock, start, rng)
    questionnaires_at = clock.at(days.appointment, 9, rng.choice((0, 15, 30, 45)))
    review = None
    if fate.review is not None:
        reviewed_at = clock.at(days.reviewed, rng.randint(11, 16), rng.choice((0, 20, 40)))
        review = screening.review(finding, fate.review, reviewed_at)
    # In the order the generator has always drawn them, so every cohort stays as it was.
    referral = patients.referral(
        finding, reason, clock.today, rng, referred_at=_office_hours(clock, days.referred, rng)
    )
    intake_form = patients.intake_form(
        finding,
        reason,
        rng,
        resting_bp=bp,
        submitted_at=_office_hours(clock, days.form, rng),
    )
    assessments = patients.assessments(finding, reason, baseline, rng, at=questionnaires_at)
    if course is not None and (instrument := INDICATION_INSTRUMENT.get(reason)) is not None:
        [taken] = [a for a in assessments if a.instrument is instrument]
        indication_baseline = sum(int(answer or 0) for answer in taken.answers)
        course = with_indication_outcome(course, reason, indication_baseline, baseline)
    return PatientPlan(
        number=number,
        team=team,
        finding=finding,
        referral=referral,
        intake_form=intake_form,
        assessments=assessments,
        consent=patients.consent(clock.at(days.appointment, 10, rng.choice((15, 30, 45)))),
        baseline_phq9=baseline,
        expected_outcome=screening.expected_outcome(finding),
        review=review,
        course=course,
    )


def _office_hours(clock: ClinicClock, day: date, rng: Random) -> datetime:
    return clock.at(day, rng.randint(9, 16), rng.choice((0, 10, 20, 30, 40, 50)))
