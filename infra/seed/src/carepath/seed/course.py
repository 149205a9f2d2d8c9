"""What happens in a patient's course: a preparation session, dosing sessions twice a week (some
deferred for blood pressure), an integration session within 72 hours of most discharges, and the
end: completed with a final PHQ-9, discontinued with a reason, or still in progress. Pure.

Days are counted from the preparation session (day 0), which lies 1-6 weeks before today. Each
step follows the one before it: a session is booked at the end of the preparation session, of the
integration session after the last discharge (or of the discharge, or the deferred check-in), and
held on a later day. Every charted time falls on a day before today, except for a patient whose
course reaches today (`Today`): their last visit is today, counted back from `now`.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from random import Random

from pydantic import BaseModel, ConfigDict

from carepath.contracts.common import SCORED_ITEMS, Instrument, TherapyModality
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
    StartMaintenance,
    SuspendCourse,
)
from carepath.seed import questionnaires
from carepath.seed.dosing import (
    DosingVisit,
    deferred_visit,
    dosed_visit,
    past_visit_times,
    visit_end,
)
from carepath.seed.timeline import ClinicClock
from carepath.seed.today import Today, todays_visit
from carepath.seed.wording import DISCONTINUATION_DETAILS, INTENTIONS, PRACTICES, THEMES

PLANNED_DOSES = 6  # the session service's induction plan (clinic policy default)
LONGEST_AGO = 42  # courses started at most 6 weeks ago ...
SHORTEST_AGO = 7  # ... and at least 1 week ago
BOOKED_AFTER = timedelta(minutes=30)  # the next session is booked as the last step ends


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
    """What the cohort decided for this patient's course (`today`: in progress, with a visit
    today that stands so when the seed finishes)."""

    ending: Ending
    trajectory: Trajectory
    reason: DiscontinuationReason | None = None
    forced_deferral: bool = False
    misses_integration: bool = False
    today: Today | None = None
    maintenance: bool = False  # after the induction, a maintenance phase instead of completion


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
    """A dosing session, the clinician's suspension of the course after it (if any), and the
    integration session that follows it (None: missed, or not held yet because it is not due)."""

    model_config = ConfigDict(frozen=True)

    visit: DosingVisit
    suspension: SuspendCourse | None = None
    integration: RecordIntegrationSession | None = None


class CoursePlan(BaseModel):
    """Everything staff will chart for the course, in order."""

    model_config = ConfigDict(frozen=True)

    ending: Ending
    trajectory: Trajectory
    started_days_ago: int
    today: Today | None = None
    preparation: RecordPreparationSession
    steps: tuple[DosingStep, ...]
    maintenance: StartMaintenance | None = None
    next_booking: ScheduleDosingSession | None = None
    final_outcome: RecordOutcome | None = None  # the final PHQ-9
    indication_outcome: RecordOutcome | None = None  # the final GAD-7, PCL-5 or pain NRS
    completion: CompleteCourse | None = None
    discontinuation: DiscontinueCourse | None = None

    @property
    def doses(self) -> int:
        return sum(not step.visit.deferred for step in self.steps)

    @property
    def discharges(self) -> int:
        return sum(step.visit.discharge is not None for step in self.steps)


@dataclass(frozen=True)
class Slot:
    """A dosing visit, in days from the preparation session; deferred at check-in or not."""

    day: int
    deferred: bool


def plan_course(fate: CourseFate, patient: Patient, clock: ClinicClock, rng: Random) -> CoursePlan:
    """The course of one patient, as it should be charted."""
    if fate.today is not None:
        slots, ago = _slots(fate, patient, rng.randint(2, 4), rng)
        end_day = ago
    else:
        slots, _ = _slots(fate, patient, _doses(fate, rng), rng)
        end_day = _end_day(fate, slots[-1].day if slots else 0, rng)
        if fate.ending is Ending.IN_PROGRESS:
            ago = rng.randint(9, 16)
            slots = [slot for slot in slots if slot.day < ago][: PLANNED_DOSES - 1]
        else:
            ago = rng.randint(max(SHORTEST_AGO, end_day + 1), max(LONGEST_AGO, end_day + 1))
    start = clock.days_before(ago)
    final_total = _final_phq9(fate, patient.baseline_phq9, rng)
    preparation = _preparation(patient, clock.at(start, rng.randint(10, 15)), rng)
    steps = _steps(fate, patient, slots, start, preparation.held_at, clock, final_total, rng)
    # Today's visit draws from its own generator: how it fits the hour never shifts the rest.
    visit_rng = Random(rng.getrandbits(64))  # noqa: S311 (synthetic, not secret)
    plan = CoursePlan(
        ending=fate.ending,
        trajectory=fate.trajectory,
        started_days_ago=ago,
        today=fate.today,
        preparation=preparation,
        steps=tuple(steps),
    )
    if fate.today is not None:
        return _today(plan, fate.today, patient, clock, final_total, visit_rng)
    end = start + timedelta(days=end_day)
    return _ending(plan, fate, patient, end, clock, final_total, rng)


def _slots(fate: CourseFate, patient: Patient, doses: int, rng: Random) -> tuple[list[Slot], int]:
    """The visits up to the `doses`-th dose (twice a week, a deferred one rebooked 1-2 days on),
    and the day of the visit after them."""
    defer_chance = 0.3 if patient.deferral_prone else 0.03
    forced_at = min(1, doses - 1) if fate.forced_deferral else -1
    gaps, day, dosed = rng.choice(((3, 4), (4, 3))), rng.randint(2, 5), 0
    slots: list[Slot] = []
    while dosed < doses:
        after_deferral = bool(slots) and slots[-1].deferred
        deferred = not after_deferral and (dosed == forced_at or rng.random() < defer_chance)
        slots.append(Slot(day, deferred))
        if deferred:
            forced_at, day = -1, day + rng.randint(1, 2)
            continue
        dosed += 1
        day += gaps[dosed % 2]
    return slots, day


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
    """The day the course ends: after the integration session of the last dose (1-2 days on)."""
    match fate.reason:
        case DiscontinuationReason.PATIENT_CHOICE:
            return last_day + rng.randint(3, 7)
        case DiscontinuationReason.LOST_TO_FOLLOW_UP:
            return last_day + rng.randint(14, 21)
        case DiscontinuationReason.NON_RESPONSE:
            return last_day + 3
        case DiscontinuationReason.ADVERSE_EVENT:
            return last_day + rng.randint(3, 5)
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


def _pre_dose_phq9(patient: Patient, final_total: int, dosed: int, rng: Random) -> int:
    """The PHQ-9 at check-in, on its way from the baseline to `final_total`."""
    progress = dosed / PLANNED_DOSES
    expected = patient.baseline_phq9 + (final_total - patient.baseline_phq9) * progress
    return min(24, max(0, round(expected) + rng.randint(-1, 1)))


def _steps(
    fate: CourseFate,
    patient: Patient,
    slots: list[Slot],
    start: date,
    prepared_at: datetime,
    clock: ClinicClock,
    final_total: int,
    rng: Random,
) -> list[DosingStep]:
    steps: list[DosingStep] = []
    dosed, last_step_ended = 0, prepared_at
    weights = [round(patient.weight_kg + rng.uniform(-0.6, 0.6), 1) for _ in slots]
    doses = sum(not slot.deferred for slot in slots)
    ae_dose = doses if fate.reason is DiscontinuationReason.ADVERSE_EVENT else 0
    for slot, weight in zip(slots, weights, strict=True):
        day = start + timedelta(days=slot.day)
        pre_dose = _pre_dose_phq9(patient, final_total, dosed, rng)
        with_ae = not slot.deferred and dosed + 1 == ae_dose
        times = past_visit_times(
            day,
            last_step_ended + BOOKED_AFTER,
            patient.route,
            clock,
            rng,
            deferred=slot.deferred,
            adverse_event=with_ae,
        )
        if slot.deferred:
            step = DosingStep(visit=deferred_visit(times, weight, pre_dose, rng))
        else:
            dosed += 1
            visit = dosed_visit(
                times, patient.route, dosed, weight, pre_dose, rng, adverse_event=with_ae
            )
            missed = (fate.misses_integration and dosed == 1) or rng.random() < 0.04
            if fate.reason is DiscontinuationReason.LOST_TO_FOLLOW_UP and dosed == doses:
                missed = True  # the patient stopped coming after the last session
            integration = None if missed else _integration(visit, patient, clock, rng)
            suspension = _suspension(visit) if with_ae else None
            step = DosingStep(visit=visit, suspension=suspension, integration=integration)
        steps.append(step)
        last_step_ended = _step_end(step)
    return steps


def _step_end(step: DosingStep) -> datetime:
    """The last charted time of the step: its integration session, suspension, or visit."""
    if step.integration is not None:
        return step.integration.held_at
    if step.suspension is not None and step.suspension.suspended_at is not None:
        return step.suspension.suspended_at
    return visit_end(step.visit)


def _suspension(visit: DosingVisit) -> SuspendCourse:
    assert visit.discharge is not None
    return SuspendCourse(
        reason=CourseSuspensionReason.CLINICIAN_DECISION,
        rationale="Severe hypertensive response during the infusion; no further dosing "
        "until a medical review.",
        suspended_at=visit.discharge.discharged_at + timedelta(minutes=10),
    )


def _integration(
    visit: DosingVisit, patient: Patient, clock: ClinicClock, rng: Random
) -> RecordIntegrationSession | None:
    """The integration session 1-2 days after the discharge (within 72 h); None while it lies
    on or after today (due, not held yet)."""
    assert visit.discharge is not None
    discharged_on = visit.discharge.discharged_at.astimezone(clock.zone).date()
    day = discharged_on + timedelta(days=rng.randint(1, 2))
    held_at = clock.at(day, rng.randint(9, 16), rng.choice((0, 30)))
    themes = rng.sample(THEMES, k=rng.randint(1, 3))
    practices = rng.sample(list(IntegrationPractice), k=rng.randint(1, 2))
    if day >= clock.today:
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


def _preparation(patient: Patient, held_at: datetime, rng: Random) -> RecordPreparationSession:
    intentions = INTENTIONS[patient.reason]
    return RecordPreparationSession(
        held_at=held_at,
        intentions=rng.sample(intentions, k=rng.randint(1, min(3, len(intentions)))),
        mindfulness_practice=rng.choice(PRACTICES),
        modality=patient.modality,
        therapist_notes="Set and setting discussed; what to expect from dissociation; "
        "escort and no driving until the next day agreed.",
    )


def _last_step_end(plan: CoursePlan) -> datetime:
    return _step_end(plan.steps[-1]) if plan.steps else plan.preparation.held_at


def _today(
    plan: CoursePlan,
    role: Today,
    patient: Patient,
    clock: ClinicClock,
    final_total: int,
    rng: Random,
) -> CoursePlan:
    """`plan` with today's visit, booked as its last step ended; a deferred one is rebooked."""
    booked_at = _last_step_end(plan) + BOOKED_AFTER
    today = todays_visit(role, patient.route, booked_at, clock, rng)
    weight = round(patient.weight_kg + rng.uniform(-0.6, 0.6), 1)
    pre_dose = _pre_dose_phq9(patient, final_total, plan.doses, rng)
    visit = (
        deferred_visit(today.times, weight, pre_dose, rng)
        if role is Today.DEFERRED
        else dosed_visit(today.times, patient.route, plan.doses + 1, weight, pre_dose, rng)
    )
    changes: dict[str, object] = {"steps": (*plan.steps, DosingStep(visit=visit))}
    if today.rebooked_at is not None:
        changes["next_booking"] = ScheduleDosingSession(
            scheduled_for=clock.at(clock.today + timedelta(days=rng.randint(1, 2)), 9),
            booked_at=today.rebooked_at,
        )
    return plan.model_copy(update=changes)


MAINTENANCE_GAP = timedelta(days=15)
"""The seed books the first maintenance session this long after the last dose (the session
policy's `maintenance.min_interval_days` is 14)."""


def _maintenance(plan: CoursePlan, decided_at: datetime, clock: ClinicClock) -> CoursePlan:
    """A clinician starts the maintenance phase after the induction, and its first session is
    booked the policy's interval after the last dose (or tomorrow, if that is past)."""
    last_dose = max(s.visit.dose.administered_at for s in plan.steps if s.visit.dose is not None)
    day = max((last_dose + MAINTENANCE_GAP).date(), clock.today + timedelta(days=1))
    start = StartMaintenance(
        rationale="Good response to the induction; maintenance to prevent relapse, as agreed "
        "with the patient.",
        started_at=decided_at,
    )
    booking = ScheduleDosingSession(
        scheduled_for=clock.at(day, 9), booked_at=decided_at + timedelta(minutes=10)
    )
    return plan.model_copy(update={"maintenance": start, "next_booking": booking})


def _ending(
    plan: CoursePlan,
    fate: CourseFate,
    patient: Patient,
    end: date,
    clock: ClinicClock,
    final_total: int,
    rng: Random,
) -> CoursePlan:
    if fate.ending is Ending.IN_PROGRESS:
        booked = clock.at(clock.today + timedelta(days=rng.randint(1, 3)), 9)
        next_booking = ScheduleDosingSession(
            scheduled_for=booked, booked_at=_last_step_end(plan) + BOOKED_AFTER
        )
        return plan.model_copy(update={"next_booking": next_booking})
    measured_at = clock.at(end, rng.randint(9, 15), rng.choice((0, 30)))
    if fate.maintenance:
        return _maintenance(plan, measured_at, clock)
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
    changes["discontinuation"] = DiscontinueCourse(
        discontinued_at=later, reason=fate.reason, details=DISCONTINUATION_DETAILS[fate.reason]
    )
    return plan.model_copy(update=changes)


INDICATION_INSTRUMENT = {
    ReferralReason.ANXIETY: Instrument.GAD7,
    ReferralReason.PTSD: Instrument.PCL5,
    ReferralReason.CHRONIC_PAIN: Instrument.PAIN_NRS,
}
"""The instrument that measures each indication besides depression (the integration policy's
`indication_instrument`); a course that completes needs its final measure."""


def with_indication_outcome(
    plan: CoursePlan, reason: ReferralReason, baseline: int, baseline_phq9: int
) -> CoursePlan:
    """The plan with the final measure of the patient's indication beside the final PHQ-9, when
    that is not PHQ-9: the indication improves in the same proportion as the PHQ-9 did."""
    instrument, final = INDICATION_INSTRUMENT.get(reason), plan.final_outcome
    if instrument is None or final is None:
        return plan
    total = round(baseline * sum(final.answers) / baseline_phq9) if baseline_phq9 else baseline
    rng = Random(total * 1009 + baseline)  # noqa: S311 (synthetic; its own draws, not the cohort's)
    answers = questionnaires.spread(total, *SCORED_ITEMS[instrument], rng)
    outcome = final.model_copy(
        update={
            "instrument": instrument,
            "answers": list(answers),
            "measured_at": final.measured_at + timedelta(minutes=5),
        }
    )
    return plan.model_copy(update={"indication_outcome": outcome})
