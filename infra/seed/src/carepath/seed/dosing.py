"""One dosing day as staff chart it: check-in, the dose 10-15 minutes later, vitals every 15-30
minutes with the blood-pressure peak about 40 minutes after the dose, observations, and a
discharge at least 2 hours after the dose with readiness and escort confirmed. Pure."""

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
from carepath.seed.timeline import clinic_time

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


def deferred_visit(day: date, weight_kg: float, pre_dose_phq9: int, rng: Random) -> DosingVisit:
    """A visit whose pre-dose BP is above 140/90: the service defers it."""
    booking, checked_at = _arrival(day, rng)
    check_in = CheckIn(
        measured_at=checked_at,
        systolic=rng.randint(146, 162),
        diastolic=rng.randint(92, 99),
        heart_rate=rng.randint(72, 92),
        spo2=rng.randint(96, 99),
        weight_kg=weight_kg,
        pre_dose_phq9_answers=questionnaires.phq9(pre_dose_phq9, rng),
    )
    return DosingVisit(booking=booking, check_in=check_in)


def dosed_visit(
    day: date,
    route: Route,
    dose_number: int,
    weight_kg: float,
    pre_dose_phq9: int,
    rng: Random,
    *,
    adverse_event: bool = False,
) -> DosingVisit:
    """A full dosing session: check-in, dose, monitoring, discharge >= 2 h after the dose."""
    booking, checked_at = _arrival(day, rng)
    systolic, diastolic, heart_rate = (
        rng.randint(110, 134),
        rng.randint(68, 86),
        rng.randint(60, 84),
    )
    check_in = CheckIn(
        measured_at=checked_at,
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=heart_rate,
        spo2=rng.randint(96, 99),
        weight_kg=weight_kg,
        pre_dose_phq9_answers=questionnaires.phq9(pre_dose_phq9, rng),
    )
    dosed_at = checked_at + timedelta(minutes=rng.randint(10, 15))
    observed_for = 150 if adverse_event else rng.randint(125, 160)
    if adverse_event:
        monitoring = _adverse_event_monitoring(dosed_at)
    else:
        vitals = _vitals(dosed_at, observed_for, (systolic, diastolic, heart_rate), rng)
        monitoring = sorted([*vitals, *_observations(dosed_at, route, rng)], key=_charted)
    return DosingVisit(
        booking=booking,
        check_in=check_in,
        dose=_dose(route, dose_number, weight_kg, dosed_at),
        monitoring=tuple(monitoring),
        discharge=DischargePatient(
            discharged_at=dosed_at + timedelta(minutes=observed_for),
            readiness_confirmed=True,
            escort_confirmed=True,
            no_driving_advised=True,
        ),
    )


def charted_times(visit: DosingVisit) -> list[datetime]:
    """Every charted time of the visit, in the order staff chart them."""
    times = [visit.check_in.measured_at]
    if visit.dose is not None:
        times.append(visit.dose.administered_at)
    times.extend(_charted(item) for item in visit.monitoring)
    if visit.discharge is not None:
        times.append(visit.discharge.discharged_at)
    return times


def _arrival(day: date, rng: Random) -> tuple[ScheduleDosingSession, datetime]:
    booked = clinic_time(day, 8, 30) + timedelta(minutes=30 * rng.randint(0, 8))
    return ScheduleDosingSession(scheduled_for=booked), booked + timedelta(
        minutes=rng.randint(0, 10)
    )


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
    dosed_at: datetime, observed_for: int, before: tuple[int, int, int], rng: Random
) -> list[RecordVitals]:
    systolic, diastolic, heart_rate = before
    peak = (rng.randint(8, 24), rng.randint(4, 12), rng.randint(4, 14))
    readings, minute = [], rng.randint(15, 30)
    while minute <= observed_for - 5:
        rise = max(0.0, 1 - abs(minute - 40) / 50)  # BP peaks ~40 min after the dose
        readings.append(
            RecordVitals(
                measured_at=dosed_at + timedelta(minutes=minute),
                systolic=systolic + round(peak[0] * rise) + rng.randint(-3, 3),
                diastolic=diastolic + round(peak[1] * rise) + rng.randint(-2, 2),
                heart_rate=heart_rate + round(peak[2] * rise) + rng.randint(-3, 3),
                spo2=rng.randint(95, 99),
            )
        )
        minute += rng.randint(15, 30)
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
