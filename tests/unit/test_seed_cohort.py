"""The seeding tool's cohort plan (infra/seed): deterministic per seed, the right mix of patients,
charted times a clinic could chart, and courses the session and integration deciders accept."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4

import pytest

from carepath.contracts import DomainEvent
from carepath.contracts.common import Instrument
from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision
from carepath.contracts.integration import (
    CourseCompleted,
    CourseDiscontinued,
    DiscontinuationReason,
)
from carepath.contracts.session import (
    CourseOpeningBasis,
    DosingDeferred,
    PatientDischarged,
    RecordVitals,
    Route,
)
from carepath.integration.clinic_policy import load_policy as load_integration_policy
from carepath.integration.domain import (
    MakeIntegrationDue,
    PatientContext,
    PlanCommand,
    plan_decider,
)
from carepath.integration.domain import StaffCommand as IntegrationCommand
from carepath.seed.cohort import CohortPlan, PatientPlan, plan_cohort
from carepath.seed.course import Ending
from carepath.seed.dosing import DosingVisit, charted_times
from carepath.seed.journey import planned_journey
from carepath.session.clinic_policy import load_policy as load_session_policy
from carepath.session.domain import course_decider
from carepath.session.state import OpenCourse, StaffCommand

TODAY = date(2026, 11, 25)
MIDNIGHT = datetime.combine(TODAY, time(), tzinfo=UTC)  # the earliest a run on TODAY can send
SESSION_POLICY = load_session_policy()
SESSIONS = course_decider(SESSION_POLICY)
INTEGRATION = plan_decider(load_integration_policy())
COHORT = plan_cohort(50, 7, TODAY)
TREATED = [patient for patient in COHORT.patients if patient.course is not None]


def visits(plan: CohortPlan) -> Iterator[tuple[PatientPlan, DosingVisit]]:
    for patient in plan.patients:
        for step in patient.course.steps if patient.course else ():
            yield patient, step.visit


def kinds(plan: CohortPlan) -> set[str]:
    """The kinds of patient in the cohort, in the clinic's words."""
    found = set()
    for patient in plan.patients:
        journey = planned_journey(patient)
        found |= {
            "ineligible" if journey.screening is EligibilityOutcome.INELIGIBLE else "",
            f"needs review, {journey.review.value}" if journey.review else "",
            "deferral" if journey.deferrals else "",
            "adverse event" if journey.adverse_events else "",
            f"drop-out: {journey.discontinued.value}" if journey.discontinued else "",
            "completion" if journey.completed else "",
            "still in course" if journey.in_course else "",
            "remitter" if journey.remission else "",
            "responder, not remitted" if journey.response and not journey.remission else "",
            "non-responder" if journey.response is False else "",
        }
    return found - {""}


def datetimes(value: Any) -> Iterator[datetime]:
    if isinstance(value, datetime):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from datetimes(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from datetimes(item)


def test_the_same_seed_gives_the_same_cohort() -> None:
    assert plan_cohort(30, 11, TODAY) == plan_cohort(30, 11, TODAY)


def test_another_day_shifts_the_cohort_by_whole_days_and_keeps_its_fingerprint() -> None:
    later = plan_cohort(30, 11, TODAY + timedelta(days=40))
    earlier = plan_cohort(30, 11, TODAY)

    assert later.fingerprint() == earlier.fingerprint()
    assert later.patients[0].referral.date_of_birth == earlier.patients[
        0
    ].referral.date_of_birth + timedelta(days=40)


def test_another_seed_gives_another_cohort() -> None:
    assert plan_cohort(30, 11, TODAY).fingerprint() != plan_cohort(30, 12, TODAY).fingerprint()


@pytest.mark.parametrize("seed", range(1, 8))
def test_a_cohort_of_12_has_every_kind_of_patient(seed: int) -> None:
    found = kinds(plan_cohort(12, seed, TODAY))

    assert {
        "ineligible",
        "needs review, approve",
        "needs review, decline",
        "deferral",
        "adverse event",
        "drop-out: adverse_event",
        "completion",
        "still in course",
        "remitter",
        "responder, not remitted",
        "non-responder",
    } <= found
    assert len({kind for kind in found if kind.startswith("drop-out")}) >= 2


def test_a_cohort_of_50_has_every_reason_to_stop_and_mostly_depression() -> None:
    reasons = [patient.referral.referral_reason.value for patient in COHORT.patients]

    assert {f"drop-out: {reason.value}" for reason in DiscontinuationReason} <= kinds(COHORT)
    assert max(set(reasons), key=reasons.count) == "depression"
    assert {"ptsd", "anxiety", "chronic_pain"} <= set(reasons)


def test_reviews_mostly_approve() -> None:
    decisions = [p.review.decision for p in COHORT.patients if p.review is not None]

    assert decisions.count(ReviewDecision.APPROVE) > decisions.count(ReviewDecision.DECLINE) > 0


def test_every_charted_time_is_in_the_past_and_only_the_next_booking_lies_ahead() -> None:
    for patient in COHORT.patients:
        charted = patient.model_dump(exclude={"course": {"next_booking"}})

        assert all(moment < MIDNIGHT for moment in datetimes(charted)), patient.number
        if patient.course and patient.course.next_booking:
            assert patient.course.next_booking.scheduled_for > MIDNIGHT


def test_courses_started_one_to_six_weeks_ago() -> None:
    assert all(7 <= patient.course.started_days_ago <= 42 for patient in TREATED if patient.course)


def test_each_dosing_session_is_charted_in_order_with_the_dose_10_to_15_minutes_after_check_in() -> (
    None
):
    for _, visit in visits(COHORT):
        times = charted_times(visit)

        assert times == sorted(times)  # a vitals reading and an observation may share a minute
        assert len(times) == 1 or (times[0] < times[1] < times[2] and times[-2] < times[-1])
        assert visit.check_in.measured_at >= visit.booking.scheduled_for
        if visit.dose is not None:
            waited = visit.dose.administered_at - visit.check_in.measured_at
            assert timedelta(minutes=10) <= waited <= timedelta(minutes=15)


def test_vitals_are_taken_every_15_to_30_minutes_after_the_dose() -> None:
    for _, visit in visits(COHORT):
        if visit.dose is None:
            continue
        taken = [visit.dose.administered_at] + [
            v.measured_at for v in visit.monitoring if isinstance(v, RecordVitals)
        ]
        gaps = [later - earlier for earlier, later in pairwise(taken)]

        assert gaps and all(timedelta(minutes=15) <= gap <= timedelta(minutes=30) for gap in gaps)


def test_discharge_is_at_least_120_minutes_after_the_dose_with_readiness_and_escort() -> None:
    for _, visit in visits(COHORT):
        if visit.dose is None:
            assert visit.discharge is None and visit.check_in.systolic > 140
            continue
        assert visit.discharge is not None
        observed = visit.discharge.discharged_at - visit.dose.administered_at

        assert observed >= timedelta(minutes=120)
        assert visit.discharge.readiness_confirmed and visit.discharge.escort_confirmed


def test_doses_are_the_clinics_usual_ones() -> None:
    for _, visit in visits(COHORT):
        dose, weight = visit.dose, visit.check_in.weight_kg
        if dose is None:
            continue
        match dose.route:
            case Route.IV:
                assert dose.dose_mg == round(0.5 * weight, 1) and dose.infusion_minutes == 40
            case Route.IM:
                assert 0.5 <= dose.dose_mg / weight <= 1.0
            case _:
                assert 100 <= dose.dose_mg <= 300


def test_integration_sessions_are_held_within_72_hours_of_the_discharge_and_a_few_are_missed() -> (
    None
):
    held = missed = 0
    for patient in TREATED:
        assert patient.course is not None
        for step in patient.course.steps:
            if step.visit.discharge is None:
                continue
            if step.integration is None:
                missed += 1
                continue
            held += 1
            after = step.integration.held_at - step.visit.discharge.discharged_at
            assert timedelta(0) < after <= timedelta(hours=72)

    assert 0 < missed < held / 5


def test_one_adverse_event_in_the_cohort() -> None:
    assert sum(planned_journey(patient).adverse_events for patient in COHORT.patients) == 1


def test_completers_have_all_six_doses_and_a_final_phq9_after_the_last_discharge() -> None:
    for patient in TREATED:
        course = patient.course
        assert course is not None
        if course.ending is not Ending.COMPLETED:
            continue
        last = max(s.visit.discharge.discharged_at for s in course.steps if s.visit.discharge)

        assert course.doses == 6
        assert course.final_outcome is not None and course.final_outcome.measured_at > last
        assert course.completion is not None
        assert course.completion.completed_at >= course.final_outcome.measured_at


# --- the plan against the real deciders (pure: no services, no broker) -------------------------


def replay(patient: PatientPlan) -> tuple[list[DomainEvent], list[DomainEvent]]:
    """Every planned course step through the session decider, then every integration step
    through the integration decider, at the earliest moment a run could send them."""
    assert patient.course is not None
    course = patient.course
    patient_id, course_id = uuid4(), uuid4()
    basis = CourseOpeningBasis.REVIEW_APPROVED if patient.review else CourseOpeningBasis.ELIGIBLE
    state = SESSIONS.initial_state
    session_events: list[DomainEvent] = []

    def session(request: Any, session_id: UUID | None = None, new_id: UUID | None = None) -> None:
        nonlocal state
        command = StaffCommand(request=request, now=MIDNIGHT, session_id=session_id, new_id=new_id)
        events = SESSIONS.decide(state, command)
        state = SESSIONS.fold_onto(state, events)
        session_events.extend(events)

    opened = SESSIONS.decide(state, OpenCourse(patient_id, course_id, basis, uuid4()))
    state = SESSIONS.fold_onto(state, opened)
    session(course.preparation, new_id=uuid4())
    integrations = []
    for step in course.steps:
        visit, session_id = step.visit, uuid4()
        session(visit.booking, new_id=session_id)
        session(visit.check_in, session_id)
        for request in (visit.dose, *visit.monitoring, visit.discharge):
            if request is not None:
                session(request, session_id)
        if step.integration is not None:
            integrations.append(
                step.integration.model_copy(update={"dosing_session_id": session_id})
            )
    if course.next_booking is not None:
        session(course.next_booking, new_id=uuid4())
    if course.suspension is not None:
        session(course.suspension)

    context = PatientContext(
        patient_id=patient_id,
        baselines={Instrument.PHQ9: patient.baseline_phq9},
        course_id=course_id,
        planned_dosing_sessions=6,
    )
    plan_state = INTEGRATION.initial_state
    integration_events: list[DomainEvent] = []
    discharges = [MakeIntegrationDue(e) for e in session_events if isinstance(e, PatientDischarged)]
    endings = (course.final_outcome, course.completion, course.discontinuation)
    requests = [*integrations, *(request for request in endings if request is not None)]
    commands: list[PlanCommand] = [
        *discharges,
        *(IntegrationCommand(r, MIDNIGHT, context, new_id=uuid4()) for r in requests),
    ]
    for command in commands:
        events = INTEGRATION.decide(plan_state, command)
        plan_state = INTEGRATION.fold_onto(plan_state, events)
        integration_events.extend(events)
    return session_events, integration_events


@pytest.mark.parametrize("patient", TREATED, ids=lambda p: f"patient-{p.number}")
def test_the_session_and_integration_deciders_accept_every_planned_step(
    patient: PatientPlan,
) -> None:
    session_events, integration_events = replay(patient)
    journey = planned_journey(patient)

    assert sum(isinstance(e, PatientDischarged) for e in session_events) == journey.discharges
    assert sum(isinstance(e, DosingDeferred) for e in session_events) == journey.deferrals
    completed = [e for e in integration_events if isinstance(e, CourseCompleted)]
    discontinued = [e for e in integration_events if isinstance(e, CourseDiscontinued)]
    assert bool(completed) == journey.completed
    assert [e.reason for e in discontinued] == (
        [journey.discontinued] if journey.discontinued else []
    )
    if completed:
        assert (completed[0].response, completed[0].remission) == (
            journey.response,
            journey.remission,
        )
