"""The seeding tool's cohort plan (infra/seed): deterministic per seed, the right mix of patients,
each patient's history charted in pathway order in clinical time and never after `now`, a few
patients on today's board in the clinic's time zone, and courses the session and integration
deciders accept. Also the comparison `carepath-seed-check` makes against the dashboard."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from carepath.contracts import DomainEvent
from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision
from carepath.contracts.integration import (
    CourseCompleted,
    CourseDiscontinued,
    DiscontinuationReason,
    OutcomeMeasured,
)
from carepath.contracts.session import (
    CourseOpeningBasis,
    DosingDeferred,
    PatientDischarged,
    RecordObservation,
    RecordVitals,
    ReportAdverseEvent,
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
from carepath.seed.check import board_problems, funnel_differences, planned_counts, planned_today
from carepath.seed.cohort import CohortPlan, PatientPlan, plan_cohort
from carepath.seed.course import INDICATION_INSTRUMENT, Ending
from carepath.seed.dosing import DosingVisit, least_observation_minutes
from carepath.seed.journey import planned_journey
from carepath.seed.today import Today
from carepath.session.clinic_policy import load_policy as load_session_policy
from carepath.session.domain import OpenCourse, StaffCommand, course_decider

UTC_ZONE = ZoneInfo("UTC")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14: a day ahead of UTC most of the time
NOW = datetime(2026, 11, 25, 14, 5, tzinfo=UTC)
SESSION_POLICY = load_session_policy()
SESSIONS = course_decider(SESSION_POLICY)
INTEGRATION = plan_decider(load_integration_policy())
COHORT = plan_cohort(50, 7, NOW, UTC_ZONE)
TREATED = [patient for patient in COHORT.patients if patient.course is not None]
# Runs at other moments and in other zones, including a clinic day that began 50 minutes ago.
ELSEWHEN = {
    "los-angeles-evening": plan_cohort(
        50, 7, datetime(2026, 11, 26, 3, 0, tzinfo=UTC), LOS_ANGELES
    ),
    "kiritimati-morning": plan_cohort(50, 7, datetime(2026, 11, 25, 20, 0, tzinfo=UTC), KIRITIMATI),
    "just-after-midnight": plan_cohort(50, 7, datetime(2026, 3, 8, 8, 50, tzinfo=UTC), LOS_ANGELES),
    "small-cohort": plan_cohort(10, 3, NOW, UTC_ZONE),
}
EVERY_PLAN = {"utc-afternoon": COHORT, **ELSEWHEN}


def charted_in_order(patient: PatientPlan) -> list[tuple[str, datetime]]:
    """Every command the seed sends for `patient` with its charted time, in the order it sends
    them (carepath.seed.clinic): intake, review, preparation, each visit with its suspension and
    integration session, the next booking, the end of the course."""
    charted: list[tuple[str, Any]] = [
        ("referral", patient.referral.referred_at),
        ("intake form", patient.intake_form.submitted_at),
        *((f"{a.instrument.value}", a.administered_at) for a in patient.assessments),
        ("consent", patient.consent.given_at),
    ]
    if patient.review is not None:
        charted.append(("review", patient.review.reviewed_at))
    course = patient.course
    if course is not None:
        charted.append(("preparation", course.preparation.held_at))
        for number, step in enumerate(course.steps, start=1):
            charted += [(f"visit {number} {what}", at) for what, at in visit_in_order(step.visit)]
            if step.suspension is not None:
                charted.append(("suspension", step.suspension.suspended_at))
            if step.integration is not None:
                charted.append((f"integration {number}", step.integration.held_at))
        if course.next_booking is not None:
            charted.append(("next booking", course.next_booking.booked_at))
        if course.final_outcome is not None:
            charted.append(("final PHQ-9", course.final_outcome.measured_at))
        if course.completion is not None:
            charted.append(("completion", course.completion.completed_at))
        if course.discontinuation is not None:
            charted.append(("discontinuation", course.discontinuation.discontinued_at))
    assert all(isinstance(at, datetime) for _, at in charted), charted  # no "now" defaults
    return charted


def visit_in_order(visit: DosingVisit) -> Iterator[tuple[str, Any]]:
    yield "booking", visit.booking.booked_at
    yield "check-in", visit.check_in.measured_at
    if visit.dose is not None:
        yield "dose", visit.dose.administered_at
    for item in visit.monitoring:
        match item:
            case RecordVitals():
                yield "vitals", item.measured_at
            case RecordObservation():
                yield "observation", item.observed_at
            case ReportAdverseEvent():
                yield "adverse event", item.occurred_at
    if visit.discharge is not None:
        yield "discharge", visit.discharge.discharged_at


def visits(plan: CohortPlan) -> Iterator[tuple[PatientPlan, DosingVisit]]:
    for patient in plan.patients:
        for step in patient.course.steps if patient.course else ():
            yield patient, step.visit


def on_today(plan: CohortPlan, role: Today) -> list[PatientPlan]:
    return [p for p in plan.patients if p.course is not None and p.course.today is role]


def todays_visit(patient: PatientPlan) -> DosingVisit:
    assert patient.course is not None
    return patient.course.steps[-1].visit


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
            f"today: {journey.today.value}" if journey.today else "",
        }
    return found - {""}


# --- the same inputs, the same cohort -------------------------------------------------------


def test_the_same_inputs_give_the_same_cohort() -> None:
    assert plan_cohort(30, 11, NOW, LOS_ANGELES) == plan_cohort(30, 11, NOW, LOS_ANGELES)


def test_another_day_time_or_zone_charts_the_same_cohort_shifted_with_the_same_fingerprint() -> (
    None
):
    earlier = plan_cohort(30, 11, NOW, UTC_ZONE)
    later = plan_cohort(30, 11, NOW + timedelta(days=40, hours=3, minutes=17), UTC_ZONE)
    elsewhere = plan_cohort(30, 11, NOW + timedelta(days=3), LOS_ANGELES)

    assert later.fingerprint() == earlier.fingerprint() == elsewhere.fingerprint()
    assert later.patients[0].referral.date_of_birth == earlier.patients[
        0
    ].referral.date_of_birth + timedelta(days=40)


def test_the_fingerprint_ignores_the_seconds_of_now() -> None:
    assert plan_cohort(30, 11, NOW + timedelta(seconds=59), UTC_ZONE) == plan_cohort(
        30, 11, NOW, UTC_ZONE
    )


def test_another_seed_gives_another_cohort() -> None:
    assert (
        plan_cohort(30, 11, NOW, UTC_ZONE).fingerprint()
        != plan_cohort(30, 12, NOW, UTC_ZONE).fingerprint()
    )


# --- the mix ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(1, 8))
def test_a_cohort_of_12_has_every_kind_of_patient(seed: int) -> None:
    found = kinds(plan_cohort(12, seed, NOW, UTC_ZONE))

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
        "today: in post-dose monitoring",
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


# --- clinical time: in pathway order, never after now ---------------------------------------


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_each_patients_commands_are_charted_in_pathway_order(name: str) -> None:
    for patient in EVERY_PLAN[name].patients:
        charted = charted_in_order(patient)

        assert [at for _, at in charted] == sorted(at for _, at in charted), (
            patient.number,
            [(what, at.isoformat()) for what, at in charted],
        )


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_nothing_is_charted_after_now_and_only_next_bookings_lie_ahead(name: str) -> None:
    plan = EVERY_PLAN[name]
    for patient in plan.patients:
        assert all(at < plan.now for _, at in charted_in_order(patient)), patient.number
        for _, visit in visits(plan):
            assert visit.booking.scheduled_for <= visit.check_in.measured_at < plan.now
        if patient.course and patient.course.next_booking:
            assert patient.course.next_booking.scheduled_for > plan.now


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_each_booking_follows_the_last_step_and_precedes_the_session(name: str) -> None:
    for patient in EVERY_PLAN[name].patients:
        course = patient.course
        if course is None:
            continue
        ended = course.preparation.held_at
        for step in course.steps:
            booking = step.visit.booking
            assert booking.booked_at is not None
            assert ended < booking.booked_at < booking.scheduled_for, patient.number
            ended = max(at for _, at in visit_in_order(step.visit))
            if step.integration is not None:
                ended = step.integration.held_at


def test_past_days_are_charted_at_clinic_hours_in_the_clinics_time_zone() -> None:
    plan = ELSEWHEN["los-angeles-evening"]
    for patient in plan.patients:
        if patient.course is None:
            continue
        held = patient.course.preparation.held_at.astimezone(LOS_ANGELES)
        assert 10 <= held.hour <= 15
        for step in patient.course.steps:
            scheduled = step.visit.booking.scheduled_for.astimezone(LOS_ANGELES)
            assert scheduled.date() == plan.today or 8 <= scheduled.hour <= 12


def test_courses_started_one_to_six_weeks_ago() -> None:
    assert all(7 <= patient.course.started_days_ago <= 42 for patient in TREATED if patient.course)


# --- today's board ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 11, 12, 20, 35, 50, 80])
def test_a_cohort_of_10_or_more_has_someone_in_monitoring_today(size: int) -> None:
    for seed in (1, 2, 2026):
        assert on_today(plan_cohort(size, seed, NOW, UTC_ZONE), Today.IN_MONITORING)


def test_a_cohort_of_50_has_3_in_monitoring_1_deferred_and_1_discharged_today() -> None:
    counts = {role: len(on_today(COHORT, role)) for role in Today}

    assert counts == {Today.IN_MONITORING: 3, Today.DEFERRED: 1, Today.DISCHARGED: 1}


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_todays_patients_are_dosed_within_the_observation_window_at_now(name: str) -> None:
    plan = EVERY_PLAN[name]
    for patient in on_today(plan, Today.IN_MONITORING):
        visit = todays_visit(patient)
        assert visit.dose is not None and visit.discharge is None
        window = timedelta(minutes=least_observation_minutes(visit.dose.route))
        since_dose = plan.now - visit.dose.administered_at

        assert timedelta(0) < since_dose <= timedelta(minutes=70)
        assert visit.dose.administered_at + window - plan.now >= timedelta(minutes=50)
        assert visit.dose.administered_at.astimezone(plan.clock.zone).date() == plan.today


def test_in_the_afternoon_todays_patients_have_a_few_readings_so_far() -> None:
    for patient in on_today(COHORT, Today.IN_MONITORING):
        visit = todays_visit(patient)

        assert sum(isinstance(item, RecordVitals) for item in visit.monitoring) >= 2
        assert timedelta(minutes=20) <= COHORT.now - visit.check_in.measured_at


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_the_deferred_patient_checked_in_today_with_bp_above_140_over_90(name: str) -> None:
    plan = EVERY_PLAN[name]
    for patient in on_today(plan, Today.DEFERRED):
        visit = todays_visit(patient)
        assert patient.course is not None and patient.course.next_booking is not None

        assert visit.dose is None and visit.check_in.systolic > 140
        assert visit.check_in.measured_at.astimezone(plan.clock.zone).date() == plan.today
        assert patient.course.next_booking.scheduled_for > plan.now


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_the_discharged_patient_was_dosed_about_3_hours_ago_and_left_today(name: str) -> None:
    plan = EVERY_PLAN[name]
    for patient in on_today(plan, Today.DISCHARGED):
        visit = todays_visit(patient)
        assert visit.dose is not None and visit.discharge is not None
        dosed_ago = plan.now - visit.dose.administered_at
        left_ago = plan.now - visit.discharge.discharged_at

        assert timedelta(hours=2) < dosed_ago < timedelta(hours=4)
        assert timedelta(0) < left_ago <= timedelta(minutes=21)
        assert visit.discharge.discharged_at.astimezone(plan.clock.zone).date() == plan.today


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_todays_patients_are_in_course_with_their_earlier_sessions_on_past_days(name: str) -> None:
    plan = EVERY_PLAN[name]
    for role in Today:
        for patient in on_today(plan, role):
            course = patient.course
            assert course is not None and course.ending is Ending.IN_PROGRESS
            assert course.completion is None and course.discontinuation is None
            earlier = [step.visit for step in course.steps[:-1]]

            assert sum(not visit.deferred for visit in earlier) >= 2
            assert all(
                visit.discharge is not None
                and visit.discharge.discharged_at.astimezone(plan.clock.zone).date() < plan.today
                for visit in earlier
                if not visit.deferred
            )


def test_today_is_the_clinics_date_not_utcs() -> None:
    kiritimati, los_angeles = ELSEWHEN["kiritimati-morning"], ELSEWHEN["los-angeles-evening"]

    assert (kiritimati.now.date().isoformat(), kiritimati.today.isoformat()) == (
        "2026-11-25",
        "2026-11-26",
    )
    assert (los_angeles.now.date().isoformat(), los_angeles.today.isoformat()) == (
        "2026-11-26",
        "2026-11-25",
    )
    for plan in (kiritimati, los_angeles):
        for role in Today:
            for patient in on_today(plan, role):
                checked_in = todays_visit(patient).check_in.measured_at
                assert checked_in.astimezone(plan.clock.zone).date() == plan.today


def test_just_after_midnight_todays_visits_are_pressed_into_the_young_day() -> None:
    plan = ELSEWHEN["just-after-midnight"]  # 00:50 in Los Angeles (DST began at 02:00 that day)
    for role in (Today.IN_MONITORING, Today.DEFERRED):
        for patient in on_today(plan, role):
            visit = todays_visit(patient)
            assert visit.booking.scheduled_for >= plan.clock.midnight
    for patient in on_today(plan, Today.DISCHARGED):
        visit = todays_visit(patient)
        assert visit.dose is not None and visit.discharge is not None
        observed = visit.discharge.discharged_at - visit.dose.administered_at
        assert observed > timedelta(minutes=least_observation_minutes(visit.dose.route))


# --- dosing sessions --------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_each_dosing_session_is_charted_in_order_with_the_dose_soon_after_check_in(
    name: str,
) -> None:
    for _, visit in visits(EVERY_PLAN[name]):
        times = [at for _, at in visit_in_order(visit)]

        assert times == sorted(times)  # a vitals reading and an observation may share a minute
        if visit.dose is not None:
            waited = visit.dose.administered_at - visit.check_in.measured_at
            assert timedelta(minutes=1) <= waited <= timedelta(minutes=15)


def test_vitals_are_taken_every_10_to_30_minutes_after_the_dose() -> None:
    for _, visit in visits(COHORT):
        if visit.dose is None:
            continue
        taken = [visit.dose.administered_at] + [
            v.measured_at for v in visit.monitoring if isinstance(v, RecordVitals)
        ]
        gaps = [later - earlier for earlier, later in pairwise(taken)]

        assert gaps and all(timedelta(minutes=10) <= gap <= timedelta(minutes=30) for gap in gaps)


@pytest.mark.parametrize("name", EVERY_PLAN)
def test_discharge_after_the_window_from_the_end_of_administration_with_bp_checked(
    name: str,
) -> None:
    alerts = SESSION_POLICY.monitoring
    for _, visit in visits(EVERY_PLAN[name]):
        if visit.dose is None:
            assert visit.discharge is None and visit.check_in.systolic > 140
            continue
        if visit.discharge is None:
            continue  # still in post-dose monitoring
        dose, left = visit.dose, visit.discharge.discharged_at
        administered = timedelta(minutes=dose.infusion_minutes or 0)
        window = timedelta(minutes=SESSION_POLICY.discharge.min_observation_minutes)
        vitals = [v for v in visit.monitoring if isinstance(v, RecordVitals)]
        last = max(vitals, key=lambda v: v.measured_at)

        assert left - (dose.administered_at + administered) >= window
        assert any(v.measured_at - dose.administered_at >= timedelta(minutes=40) for v in vitals)
        assert last.measured_at <= left
        assert last.systolic <= alerts.alert_systolic_mmhg
        assert last.diastolic <= alerts.alert_diastolic_mmhg
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


def test_one_adverse_event_in_the_cohort_and_the_course_suspended_after_that_session() -> None:
    with_ae = [p for p in TREATED if planned_journey(p).adverse_events]

    assert len(with_ae) == 1 and with_ae[0].course is not None
    suspended = [step for step in with_ae[0].course.steps if step.suspension is not None]
    assert len(suspended) == 1 and suspended[0].visit.adverse_events == 1


def test_the_cohort_has_a_patient_in_a_maintenance_phase_after_the_induction() -> None:
    maintained = [p for p in TREATED if p.course is not None and p.course.maintenance is not None]
    assert len(maintained) == 1


def test_completers_have_all_six_doses_and_a_final_phq9_after_the_last_discharge() -> None:
    for patient in TREATED:
        course = patient.course
        assert course is not None
        if course.ending is not Ending.COMPLETED:
            continue
        last = max(s.visit.discharge.discharged_at for s in course.steps if s.visit.discharge)

        assert course.doses == 6
        if course.maintenance is not None:  # after the induction, maintenance instead
            assert (
                course.maintenance.started_at is not None and course.maintenance.started_at > last
            )
            assert course.completion is None and course.next_booking is not None
            continue
        assert course.final_outcome is not None and course.final_outcome.measured_at > last
        assert course.completion is not None
        assert course.completion.completed_at >= course.final_outcome.measured_at


# --- the plan against the real deciders (pure: no services, no broker) -------------------------


def replay(patient: PatientPlan, now: datetime) -> tuple[list[DomainEvent], list[DomainEvent]]:
    """Every planned course step through the session decider, then every integration step
    through the integration decider, at `now` (the plan's: a run sends them a little later)."""
    assert patient.course is not None
    course = patient.course
    patient_id, course_id = uuid4(), uuid4()
    basis = CourseOpeningBasis.REVIEW_APPROVED if patient.review else CourseOpeningBasis.ELIGIBLE
    state = SESSIONS.initial_state
    session_events: list[DomainEvent] = []

    def session(request: Any, session_id: UUID | None = None, new_id: UUID | None = None) -> None:
        nonlocal state
        command = StaffCommand(request=request, now=now, session_id=session_id, new_id=new_id)
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
        if step.suspension is not None:
            session(step.suspension)
        if step.integration is not None:
            integrations.append(
                step.integration.model_copy(update={"dosing_session_id": session_id})
            )
    if course.maintenance is not None:
        session(course.maintenance)
    if course.next_booking is not None:
        session(course.next_booking, new_id=uuid4())

    context = PatientContext(
        patient_id=patient_id,
        baselines={a.instrument: sum(int(x or 0) for x in a.answers) for a in patient.assessments},
        course_id=course_id,
        planned_dosing_sessions=6,
        referral_reason=patient.referral.referral_reason,
    )
    plan_state = INTEGRATION.initial_state
    integration_events: list[DomainEvent] = []
    discharges = [MakeIntegrationDue(e) for e in session_events if isinstance(e, PatientDischarged)]
    endings = (
        course.final_outcome,
        course.indication_outcome,
        course.completion,
        course.discontinuation,
    )
    requests = [*integrations, *(request for request in endings if request is not None)]
    commands: list[PlanCommand] = [
        *discharges,
        *(IntegrationCommand(r, now, context, new_id=uuid4()) for r in requests),
    ]
    for command in commands:
        events = INTEGRATION.decide(plan_state, command)
        plan_state = INTEGRATION.fold_onto(plan_state, events)
        integration_events.extend(events)
    return session_events, integration_events


REPLAYED = [
    pytest.param(plan, patient, id=f"{name}-patient-{patient.number}")
    for name, plan in EVERY_PLAN.items()
    for patient in plan.patients
    if patient.course is not None and (name == "utc-afternoon" or patient.course.today)
]


@pytest.mark.parametrize(("plan", "patient"), REPLAYED)
def test_the_session_and_integration_deciders_accept_every_planned_step(
    plan: CohortPlan, patient: PatientPlan
) -> None:
    session_events, integration_events = replay(patient, plan.now)
    journey = planned_journey(patient)

    assert sum(isinstance(e, PatientDischarged) for e in session_events) == journey.discharges
    assert sum(isinstance(e, DosingDeferred) for e in session_events) == journey.deferrals
    completed = [e for e in integration_events if isinstance(e, CourseCompleted)]
    discontinued = [e for e in integration_events if isinstance(e, CourseDiscontinued)]
    assert bool(completed) == journey.completed
    assert [e.reason for e in discontinued] == (
        [journey.discontinued] if journey.discontinued else []
    )
    phq9 = [
        e for e in integration_events if isinstance(e, OutcomeMeasured) and e.instrument == "PHQ9"
    ]
    if phq9:  # the final PHQ-9 is judged as the plan expected
        assert (phq9[-1].response, phq9[-1].remission) == (journey.response, journey.remission)
    if completed:  # the course is judged on its indication's own final measure
        [done] = completed
        own = [
            e
            for e in integration_events
            if isinstance(e, OutcomeMeasured) and e.instrument is done.instrument
        ]
        assert done.instrument == INDICATION_INSTRUMENT.get(
            patient.referral.referral_reason, "PHQ9"
        )
        assert (done.final_total, done.response) == (own[-1].total, own[-1].response)


# --- carepath-seed-check: the planned funnel against the dashboard's summary -------------------


def summary_like_the_dashboard(counts: dict[str, int], **changes: Any) -> dict[str, Any]:
    """An `/api/summary` answer that shows `counts` (dashboard queries: funnel, board)."""
    funnel = [
        {"stage": stage, "label": stage.title(), "patients": count, "conversion": None}
        for stage, count in counts.items()
        if stage != "discontinued"
    ]
    monitoring = {"status": "monitoring", "minutes_left": 71, "session_number": 3}
    summary = {
        "generated_at": "2026-11-28T14:30:00+00:00",
        "funnel": funnel,
        "discontinued": counts["discontinued"],
        "today": [monitoring, {"status": "deferred", "minutes_left": None}],
        "in_monitoring": [monitoring],
    }
    return {**summary, **changes}


def test_the_check_counts_the_planned_funnel_like_the_dashboard() -> None:
    counts = planned_counts([planned_journey(patient) for patient in COHORT.patients])

    assert counts == {
        "referred": 50,
        "intake_complete": 50,
        "screened": 50,
        "cleared": len(TREATED),
        "course_opened": len(TREATED),
        "dosed": sum(1 for p in TREATED if p.course and p.course.doses),
        "completed": sum(1 for p in TREATED if p.course and p.course.completion),
        "discontinued": sum(1 for p in TREATED if p.course and p.course.discontinuation),
    }


def test_the_check_passes_when_the_dashboard_shows_the_plan() -> None:
    counts = planned_counts([planned_journey(patient) for patient in COHORT.patients])
    summary = summary_like_the_dashboard(counts)

    assert funnel_differences(counts, summary) == []
    assert board_problems(summary) == []


def test_the_check_names_each_stage_the_dashboard_has_not_caught_up_with() -> None:
    counts = planned_counts([planned_journey(patient) for patient in COHORT.patients])
    behind = dict(counts, completed=counts["completed"] - 2)
    summary = summary_like_the_dashboard(behind, discontinued=0)

    assert funnel_differences(counts, summary) == [
        f"completed: planned {counts['completed']}, dashboard {counts['completed'] - 2}",
        f"discontinued: planned {counts['discontinued']}, dashboard 0",
    ]
    assert funnel_differences(counts, {}) == [
        f"{stage}: planned {count}, dashboard nothing" for stage, count in counts.items()
    ]


def test_the_check_wants_todays_planned_patients_on_the_board() -> None:
    counts = planned_counts([planned_journey(patient) for patient in COHORT.patients])
    planned = {Today.IN_MONITORING: 2, Today.DEFERRED: 1, Today.DISCHARGED: 1}
    summary = summary_like_the_dashboard(counts)

    assert board_problems(summary, planned) == [
        "in post-dose monitoring with minutes left: planned 2, dashboard 1",
        "discharged today: planned 1, dashboard 0",
    ]
    just_after_midnight = dict(summary, generated_at="2026-11-28T00:40:00+00:00")
    assert board_problems(just_after_midnight, planned) == [
        "in post-dose monitoring with minutes left: planned 2, dashboard 1"
    ]
    monitoring = summary["in_monitoring"] * 2
    full = dict(
        summary, in_monitoring=monitoring, today=[*summary["today"], {"status": "discharged"}]
    )
    assert board_problems(full, planned) == []
    assert planned_today([planned_journey(patient) for patient in COHORT.patients])[
        Today.IN_MONITORING
    ] == sum(1 for p in COHORT.patients if p.course and p.course.today is Today.IN_MONITORING)


def test_the_check_wants_someone_in_monitoring_with_minutes_left_today() -> None:
    counts = planned_counts([planned_journey(patient) for patient in COHORT.patients])
    window_over = {"status": "monitoring", "minutes_left": 0}

    assert board_problems(summary_like_the_dashboard(counts, today=[], in_monitoring=[])) == [
        "today's board is empty: no dosing sessions today",
        "nobody in post-dose monitoring with minutes left (0 in monitoring: minutes left [])",
    ]
    assert board_problems(
        summary_like_the_dashboard(counts, today=[window_over], in_monitoring=[window_over])
    ) == ["nobody in post-dose monitoring with minutes left (1 in monitoring: minutes left [0])"]
