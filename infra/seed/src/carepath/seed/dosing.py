"""One dosing visit as staff chart it: the booking, check-in, the dose 10-15 minutes later,
vitals every 15-30 minutes with the blood-pressure peak about 40 minutes after the dose,
observations, and a discharge once the observation window has passed since the end of the
administration (for IV, the end of the infusion), with readiness and escort confirmed. A visit
still in post-dose monitoring has its readings so far and no discharge. Pure: `VisitTimes` says
when, the caller's `Random` what.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from random import Random
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from carepath.contracts.common import AdverseEventSeverity
from carepath.contracts.session import (
    AdministerDose,
    CheckIn,
    DischargePatient,
    RecordObservation,
    RecordVitals,
    ReportAdverseEvent,
    Route,
    ScheduleDosingSession,
    SedationLevel,
    SideEffect,
)
from carepath.seed import questionnaires
from carepath.seed.timeline import ClinicClock

MIN_OBSERVATION_MINUTES = 120  # the session service's clinic policy: 2 h after administration
IV_MG_PER_KG = 0.5  # the standard IV dose, over 40 minutes (Andrade 2017)
IV_INFUSION_MINUTES = 40
IM_MG_PER_KG = (0.55, 0.65, 0.75, 0.75, 0.85, 0.9)  # titrated within 0.5-1.0 mg/kg
SUBLINGUAL_MG = (100, 150, 200, 200, 250, 300)  # titrated within 100-300 mg
SIDE_EFFECT_CHANCE = {
    SideEffect.NAUSEA: 0.25,
    SideEffect.DIZZINESS: 0.2,
    SideEffect.HEADACHE: 0.08,
    SideEffect.ANXIETY: 0.05,
}
ADVERSE_EVENT = (
    "Acute hypertensive response, BP 188/112 mmHg with chest tightness and headache 33 minutes "
    "into the infusion. Infusion stopped; ECG sinus rhythm, no ST changes; labetalol 10 mg IV. "
    "BP below 140/90 by 85 minutes; symptoms resolved."
)
# (minutes after the dose, systolic, diastolic, heart rate) of the adverse-event session
ADVERSE_EVENT_VITALS = (
    (15, 142, 88, 88),
    (35, 188, 112, 104),
    (50, 171, 101, 96),
    (65, 154, 94, 90),
    (85, 139, 87, 84),
    (110, 131, 83, 78),
    (135, 127, 81, 74),
    (160, 124, 79, 72),
)

Monitoring = RecordVitals | RecordObservation | ReportAdverseEvent


class DosingVisit(BaseModel):
    """A dosing session as planned: deferred at check-in when `dose` is None."""

    model_config = ConfigDict(frozen=True)

    booking: ScheduleDosingSession
    check_in: CheckIn
    dose: AdministerDose | None = None
    monitoring: Annotated[
        tuple[Monitoring, ...], Field(description="Vitals, observations, adverse events in order.")
    ] = ()
    discharge: DischargePatient | None = None

    @property
    def deferred(self) -> bool:
        return self.dose is None

    @property
    def adverse_events(self) -> int:
        return sum(isinstance(item, ReportAdverseEvent) for item in self.monitoring)


@dataclass(frozen=True)
class VisitTimes:
    """When a dosing visit happens. No `dosed_at`: deferred at check-in. A dose and no
    `discharged_at`: still in post-dose monitoring at `monitored_until`."""

    booked_at: datetime
    scheduled_for: datetime
    checked_in_at: datetime
    dosed_at: datetime | None = None
    discharged_at: datetime | None = None
    monitored_until: datetime | None = None


def least_observation_minutes(route: Route) -> int:
    """Minutes from the dose to the earliest discharge: the observation window after the end
    of the administration (an IV infusion lasts `IV_INFUSION_MINUTES`)."""
    return MIN_OBSERVATION_MINUTES + (IV_INFUSION_MINUTES if route is Route.IV else 0)


def past_visit_times(
    day: date,
    booked_at: datetime,
    route: Route,
    clock: ClinicClock,
    rng: Random,
    *,
    deferred: bool = False,
    adverse_event: bool = False,
) -> VisitTimes:
    """A visit on a past `day`: booked for a half hour between 08:30 and 12:30 clinic time,
    checked in up to 10 minutes after, dosed 10-15 minutes later, discharged 5-40 minutes after
    the earliest the observation window allows (the adverse-event visit: 15 minutes after)."""
    scheduled_for = clock.at(day, 8, 30) + timedelta(minutes=30 * rng.randint(0, 8))
    checked_in_at = scheduled_for + timedelta(minutes=rng.randint(0, 10))
    if deferred:
        return VisitTimes(booked_at, scheduled_for, checked_in_at)
    dosed_at = checked_in_at + timedelta(minutes=rng.randint(10, 15))
    least = least_observation_minutes(route)
    observed_for = least + (15 if adverse_event else rng.randint(5, 40))
    discharged_at = dosed_at + timedelta(minutes=observed_for)
    return VisitTimes(booked_at, scheduled_for, checked_in_at, dosed_at, discharged_at)


def deferred_visit(
    times: VisitTimes, weight_kg: float, pre_dose_phq9: int, rng: Random
) -> DosingVisit:
    """A visit whose pre-dose BP is above 140/90: the service defers it."""
    check_in = CheckIn(
        measured_at=times.checked_in_at,
        systolic=rng.randint(146, 162),
        diastolic=rng.randint(92, 99),
        heart_rate=rng.randint(72, 92),
        spo2=rng.randint(96, 99),
        weight_kg=weight_kg,
        pre_dose_phq9_answers=questionnaires.phq9(pre_dose_phq9, rng),
    )
    return DosingVisit(booking=_booking(times), check_in=check_in)


def dosed_visit(
    times: VisitTimes,
    route: Route,
    dose_number: int,
    weight_kg: float,
    pre_dose_phq9: int,
    rng: Random,
    *,
    adverse_event: bool = False,
) -> DosingVisit:
    """A dosing session: check-in, dose, monitoring, and the discharge (when `times` has one;
    otherwise the readings up to `times.monitored_until`)."""
    assert times.dosed_at is not None
    dosed_at, discharged_at = times.dosed_at, times.discharged_at
    systolic, diastolic, heart_rate = (
        rng.randint(110, 134),
        rng.randint(68, 86),
        rng.randint(60, 84),
    )
    check_in = CheckIn(
        measured_at=times.checked_in_at,
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=heart_rate,
        spo2=rng.randint(96, 99),
        weight_kg=weight_kg,
        pre_dose_phq9_answers=questionnaires.phq9(pre_dose_phq9, rng),
    )
    before = (systolic, diastolic, heart_rate)
    if adverse_event:
        monitoring = _adverse_event_monitoring(dosed_at)
    elif discharged_at is not None:
        observed_for = _minutes(discharged_at - dosed_at)
        vitals = _vitals(dosed_at, observed_for - 5, before, rng)
        monitoring = sorted([*vitals, *_observations(dosed_at, route, rng)], key=_charted)
    else:
        assert times.monitored_until is not None
        so_far = _minutes(times.monitored_until - dosed_at)
        vitals = _vitals(dosed_at, so_far, before, rng, every=(10, 15))
        observations = _observations(dosed_at, route, rng)
        observed = [o for o in observations if o.observed_at <= times.monitored_until]
        monitoring = sorted([*vitals, *observed], key=_charted)
    discharge = None
    if discharged_at is not None:
        discharge = DischargePatient(
            discharged_at=discharged_at,
            readiness_confirmed=True,
            escort_confirmed=True,
            no_driving_advised=True,
        )
    return DosingVisit(
        booking=_booking(times),
        check_in=check_in,
        dose=_dose(route, dose_number, weight_kg, dosed_at),
        monitoring=tuple(monitoring),
        discharge=discharge,
    )


def charted_times(visit: DosingVisit) -> list[datetime]:
    """Every charted time of the visit (from the booking on), in the order staff chart them."""
    booked = visit.booking.booked_at
    times = [*([booked] if booked is not None else []), visit.check_in.measured_at]
    if visit.dose is not None:
        times.append(visit.dose.administered_at)
    times.extend(_charted(item) for item in visit.monitoring)
    if visit.discharge is not None:
        times.append(visit.discharge.discharged_at)
    return times


def visit_end(visit: DosingVisit) -> datetime:
    """The last charted time of the visit."""
    return charted_times(visit)[-1]


def _booking(times: VisitTimes) -> ScheduleDosingSession:
    return ScheduleDosingSession(scheduled_for=times.scheduled_for, booked_at=times.booked_at)


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def _dose(route: Route, dose_number: int, weight_kg: float, at: datetime) -> AdministerDose:
    step = min(dose_number, len(SUBLINGUAL_MG)) - 1
    match route:
        case Route.IV:
            return AdministerDose(
                administered_at=at,
                route=route,
                dose_mg=round(IV_MG_PER_KG * weight_kg, 1),
                infusion_minutes=IV_INFUSION_MINUTES,
            )
        case Route.IM:
            mg = round(IM_MG_PER_KG[step] * weight_kg, 1)
            return AdministerDose(administered_at=at, route=route, dose_mg=mg)
        case _:
            return AdministerDose(administered_at=at, route=route, dose_mg=SUBLINGUAL_MG[step])


def _vitals(
    dosed_at: datetime,
    last_minute: int,
    before: tuple[int, int, int],
    rng: Random,
    *,
    every: tuple[int, int] = (15, 30),
) -> list[RecordVitals]:
    """Readings from `every` minutes after the dose, every `every` minutes, up to `last_minute`;
    the blood pressure rises to its peak about 40 minutes after the dose, then settles."""
    systolic, diastolic, heart_rate = before
    peak = (rng.randint(8, 24), rng.randint(4, 12), rng.randint(4, 14))
    readings, minute = [], rng.randint(*every)
    while minute <= last_minute:
        rise = max(0.0, 1 - abs(minute - 40) / 50)
        readings.append(
            RecordVitals(
                measured_at=dosed_at + timedelta(minutes=minute),
                systolic=systolic + round(peak[0] * rise) + rng.randint(-3, 3),
                diastolic=diastolic + round(peak[1] * rise) + rng.randint(-2, 2),
                heart_rate=heart_rate + round(peak[2] * rise) + rng.randint(-3, 3),
                spo2=rng.randint(95, 99),
            )
        )
        minute += rng.randint(*every)
    return readings


def _observations(dosed_at: datetime, route: Route, rng: Random) -> list[RecordObservation]:
    strongest = 25 if route is Route.SUBLINGUAL else 45
    side_effects = [
        effect for effect, chance in SIDE_EFFECT_CHANCE.items() if rng.random() < chance
    ]
    sedation = rng.choices(
        (SedationLevel.DROWSY, SedationLevel.ALERT, SedationLevel.RESPONDS_TO_VOICE),
        weights=(60, 25, 15),
    )[0]
    at_peak = RecordObservation(
        observed_at=dosed_at + timedelta(minutes=rng.randint(30, 45)),
        cadss_total=rng.randint(8, strongest),
        sedation=sedation,
        side_effects=side_effects,
    )
    lingering = [SideEffect.DIZZINESS] if rng.random() < 0.1 else []
    recovered = RecordObservation(
        observed_at=dosed_at + timedelta(minutes=rng.randint(85, 110)),
        cadss_total=rng.randint(0, 5),
        sedation=SedationLevel.ALERT,
        side_effects=lingering,
    )
    return [at_peak, recovered]


def _adverse_event_monitoring(dosed_at: datetime) -> list[Monitoring]:
    def after(minutes: int) -> datetime:
        return dosed_at + timedelta(minutes=minutes)

    vitals: list[Monitoring] = [
        RecordVitals(measured_at=after(minute), systolic=sys, diastolic=dia, heart_rate=hr, spo2=97)
        for minute, sys, dia, hr in ADVERSE_EVENT_VITALS
    ]
    return sorted(
        [
            *vitals,
            ReportAdverseEvent(
                occurred_at=after(33),
                description=ADVERSE_EVENT,
                severity=AdverseEventSeverity.SEVERE,
                serious=False,
            ),
            RecordObservation(
                observed_at=after(40),
                cadss_total=22,
                sedation=SedationLevel.DROWSY,
                side_effects=[SideEffect.HEADACHE, SideEffect.ANXIETY],
                notes="Infusion stopped at 33 minutes for the hypertensive response.",
            ),
            RecordObservation(observed_at=after(100), cadss_total=2, sedation=SedationLevel.ALERT),
        ],
        key=_charted,
    )


def _charted(item: Monitoring) -> datetime:
    match item:
        case RecordVitals():
            return item.measured_at
        case RecordObservation():
            return item.observed_at
        case ReportAdverseEvent():
            return item.occurred_at
