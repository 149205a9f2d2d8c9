"""Decisions of one dosing session: check-in, dose, monitoring, adverse events, discharge."""

from datetime import datetime, timedelta

from carepath.chassis.charting import charted, end_of_day
from carepath.chassis.errors import InvalidField, RuleViolation
from carepath.contracts import DomainEvent
from carepath.contracts.common import Instrument
from carepath.contracts.intake import SuicidalitySource
from carepath.contracts.session import (
    AdministerDose,
    AdverseEventReported,
    CheckIn,
    CourseSuspended,
    CourseSuspensionReason,
    DischargePatient,
    DischargeRefusalReason,
    DischargeRefused,
    DoseAdministered,
    DosingDeferred,
    ObservationRecorded,
    PatientCheckedIn,
    PatientDischarged,
    PreDoseSuicidalityFlagRaised,
    RecordObservation,
    RecordVitals,
    ReportAdverseEvent,
    VitalsAlertKind,
    VitalsAlertRaised,
    VitalsRecorded,
)
from carepath.session.clinic_policy import SessionPolicy
from carepath.session.domain.state import CourseState, DosingSession, DosingStatus


def check_in(
    state: CourseState,
    session: DosingSession,
    request: CheckIn,
    now: datetime,
    policy: SessionPolicy,
) -> list[DomainEvent]:
    if session.status is not DosingStatus.CHECKED_IN:  # a repeat check-in renews stale vitals
        check_status(session, DosingStatus.SCHEDULED, "check in")
    check_not_ended(state, "check in for dosing")
    check_consent_is_active(state, "check in for dosing")
    check_not_suspended(state, "check in for dosing")
    patient_id, session_id = session.scheduled.patient_id, session.scheduled.session_id
    answers = request.pre_dose_phq9_answers
    checked_in = PatientCheckedIn(
        patient_id=patient_id,
        session_id=session_id,
        measured_at=charted(request.measured_at, now, "measured_at"),
        systolic=request.systolic,
        diastolic=request.diastolic,
        heart_rate=request.heart_rate,
        spo2=request.spo2,
        weight_kg=request.weight_kg,
        pre_dose_phq9_answers=answers,
        pre_dose_phq9_total=sum(answers) if answers is not None else None,
        policy_version=policy.version,
    )
    events: list[DomainEvent] = [checked_in, *suicidality_flag(checked_in, policy)]
    limits = policy.check_in
    if (
        request.systolic <= limits.max_systolic_mmhg
        and request.diastolic <= limits.max_diastolic_mmhg
    ):
        return events
    reason = (
        f"pre-dose BP {request.systolic}/{request.diastolic} mmHg is above "
        f"{limits.max_systolic_mmhg}/{limits.max_diastolic_mmhg}: dosing deferred"
    )
    return [
        *events,
        DosingDeferred(
            patient_id=patient_id,
            session_id=session_id,
            reason=reason,
            systolic=request.systolic,
            diastolic=request.diastolic,
            max_systolic_mmhg=limits.max_systolic_mmhg,
            max_diastolic_mmhg=limits.max_diastolic_mmhg,
            policy_version=policy.version,
            occurred_at=checked_in.measured_at,
        ),
    ]


def suicidality_flag(checked_in: PatientCheckedIn, policy: SessionPolicy) -> list[DomainEvent]:
    """The same-day suicidality flag when the pre-dose PHQ-9's item 9 is above the policy limit."""
    answers = checked_in.pre_dose_phq9_answers
    if answers is None or answers[8] <= policy.check_in.phq9_item9_flag_above:
        return []
    return [
        PreDoseSuicidalityFlagRaised(
            patient_id=checked_in.patient_id,
            session_id=checked_in.session_id,
            source=SuicidalitySource.PHQ9_ITEM_9,
            instrument=Instrument.PHQ9,
            detail=f"Pre-dose PHQ-9 item 9 = {answers[8]}",
            measured_at=checked_in.measured_at,
            follow_up_due_by=end_of_day(checked_in.measured_at),
            policy_version=policy.version,
        )
    ]


def administer_dose(
    state: CourseState,
    session: DosingSession,
    request: AdministerDose,
    now: datetime,
    policy: SessionPolicy,
) -> list[DomainEvent]:
    check_status(session, DosingStatus.CHECKED_IN, "give a dose")
    check_not_ended(state, "give a dose")
    check_consent_is_active(state, "give a dose")
    check_not_suspended(state, "give a dose")
    if state.doses_given >= state.planned_doses:
        raise RuleViolation(f"all {state.planned_doses} planned doses of the course are given")
    assert session.check_in is not None
    at = charted(request.administered_at, now, "administered_at")
    if state.doses_given == 0 and not any(p.held_at <= at for p in state.preparations):
        raise RuleViolation("a preparation session must come before the first dose")
    checked_at = session.check_in.measured_at
    if at < checked_at:
        raise InvalidField("administered_at", "must not be before the check-in vitals were taken")
    window = policy.check_in.valid_minutes
    if at - checked_at > timedelta(minutes=window):
        taken = int((at - checked_at).total_seconds() // 60)
        raise RuleViolation(
            f"the pre-dose vitals were taken {taken} minutes before the dose; a dose needs them "
            f"within {window} minutes (clinic policy): check the patient in again"
        )
    weight = session.check_in.weight_kg
    exact_per_kg = request.dose_mg / weight
    per_kg = round(exact_per_kg, 4)
    if per_kg <= 0:
        raise InvalidField(
            "dose_mg",
            f"{request.dose_mg:g} mg is below 0.0001 mg/kg at {weight:g} kg: check the entry",
        )
    allowed = policy.dose_ranges[request.route]
    within = allowed.contains(request.dose_mg, weight)
    if not within and request.override_rationale is None:
        given = f"{request.dose_mg:g} mg ({per_kg:g} mg/kg at {weight:g} kg)"
        raise RuleViolation(
            f"{given} is outside the {request.route.value} policy range {allowed.describe()}; "
            "a clinician may override with override_rationale"
        )
    return [
        DoseAdministered(
            patient_id=session.scheduled.patient_id,
            session_id=session.scheduled.session_id,
            administered_at=at,
            route=request.route,
            dose_mg=request.dose_mg,
            dose_mg_per_kg=per_kg,
            weight_kg=weight,
            infusion_minutes=request.infusion_minutes,
            policy_min_mg_per_kg=allowed.min_mg_per_kg,
            policy_max_mg_per_kg=allowed.max_mg_per_kg,
            policy_min_mg=allowed.min_mg,
            policy_max_mg=allowed.max_mg,
            within_policy_range=within,
            override_rationale=None if within else request.override_rationale,
            policy_version=policy.version,
        )
    ]


def record_vitals(
    session: DosingSession, request: RecordVitals, now: datetime, policy: SessionPolicy
) -> list[DomainEvent]:
    check_status(session, DosingStatus.MONITORING, "record post-dose vitals")
    assert session.dose is not None
    at = charted(request.measured_at, now, "measured_at")
    if at < session.dose.administered_at:
        raise InvalidField(
            "measured_at", "is before the dose; pre-dose vitals are taken at check-in"
        )
    patient_id, session_id = session.scheduled.patient_id, session.scheduled.session_id
    vitals = VitalsRecorded(
        patient_id=patient_id,
        session_id=session_id,
        measured_at=at,
        systolic=request.systolic,
        diastolic=request.diastolic,
        heart_rate=request.heart_rate,
        spo2=request.spo2,
        minutes_since_dose=int((at - session.dose.administered_at).total_seconds() // 60),
    )
    alerts = policy.monitoring
    kinds = []
    if (
        request.systolic > alerts.alert_systolic_mmhg
        or request.diastolic > alerts.alert_diastolic_mmhg
    ):
        kinds.append(VitalsAlertKind.BLOOD_PRESSURE_HIGH)
    if request.heart_rate > alerts.alert_heart_rate_bpm:
        kinds.append(VitalsAlertKind.HEART_RATE_HIGH)
    if not kinds:
        return [vitals]
    return [
        vitals,
        VitalsAlertRaised(
            patient_id=patient_id,
            session_id=session_id,
            measured_at=at,
            kinds=kinds,
            systolic=request.systolic,
            diastolic=request.diastolic,
            heart_rate=request.heart_rate,
            alert_systolic_mmhg=alerts.alert_systolic_mmhg,
            alert_diastolic_mmhg=alerts.alert_diastolic_mmhg,
            alert_heart_rate_bpm=alerts.alert_heart_rate_bpm,
            policy_version=policy.version,
        ),
    ]


def record_observation(
    session: DosingSession, request: RecordObservation, now: datetime
) -> list[DomainEvent]:
    check_status(session, DosingStatus.MONITORING, "record an observation")
    assert session.dose is not None
    observed_at = charted(request.observed_at, now, "observed_at")
    if observed_at < session.dose.administered_at:
        raise InvalidField(
            "observed_at", "is before the dose; observations are of the dosing session"
        )
    return [
        ObservationRecorded(
            patient_id=session.scheduled.patient_id,
            session_id=session.scheduled.session_id,
            observed_at=observed_at,
            cadss_total=request.cadss_total,
            sedation=request.sedation,
            side_effects=request.side_effects,
            other_side_effect=request.other_side_effect,
            notes=request.notes,
        )
    ]


def report_adverse_event(
    state: CourseState, session: DosingSession, request: ReportAdverseEvent, now: datetime
) -> list[DomainEvent]:
    if session.check_in is None:
        raise RuleViolation("the patient has not checked in for this session")
    course = state.course
    assert course is not None
    reported = AdverseEventReported(
        patient_id=course.patient_id,
        session_id=session.scheduled.session_id,
        occurred_at=charted(request.occurred_at, now, "occurred_at"),
        description=request.description,
        severity=request.severity,
        serious=request.serious,
    )
    if not request.serious or state.suspension is not None:
        return [reported]
    suspended = CourseSuspended(
        patient_id=course.patient_id,
        course_id=course.course_id,
        reason=CourseSuspensionReason.SERIOUS_ADVERSE_EVENT,
        occurred_at=reported.occurred_at,
    )
    return [reported, suspended]


def discharge(
    session: DosingSession, request: DischargePatient, now: datetime, policy: SessionPolicy
) -> list[DomainEvent]:
    check_status(session, DosingStatus.MONITORING, "discharge")
    dose = session.dose
    assert dose is not None
    at = charted(request.discharged_at, now, "discharged_at")
    if at > now:  # the clock-skew allowance must not shorten a safety window
        raise InvalidField("discharged_at", f"must not be in the future (now is {now.isoformat()})")
    if at < dose.administered_at:
        raise InvalidField("discharged_at", "is before the dose was given")
    rule, alerts = policy.discharge, policy.monitoring
    # The window runs from the end of administration: the end of an IV infusion.
    ended = dose.administered_at + timedelta(minutes=dose.infusion_minutes or 0)
    observed = int((at - ended).total_seconds() // 60)
    last = session.last_vitals(at)
    peak = dose.administered_at + timedelta(minutes=rule.bp_after_dose_minutes)
    reasons, explained = [], []
    if observed < rule.min_observation_minutes:
        reasons.append(DischargeRefusalReason.OBSERVATION_WINDOW_NOT_ELAPSED)
        explained.append(
            f"observed {max(observed, 0)} of {rule.min_observation_minutes} minutes since the "
            "end of administration"
        )
    if last is None:
        reasons.append(DischargeRefusalReason.NO_BLOOD_PRESSURE_SINCE_DOSE)
        explained.append("no blood pressure recorded since the dose")
    elif last.measured_at < peak:
        reasons.append(DischargeRefusalReason.NO_BLOOD_PRESSURE_AFTER_EXPECTED_PEAK)
        explained.append(
            f"no blood pressure taken {rule.bp_after_dose_minutes} minutes or more after the "
            f"dose started (the expected peak, {peak.isoformat()})"
        )
    elif last.systolic > alerts.alert_systolic_mmhg or last.diastolic > alerts.alert_diastolic_mmhg:
        reasons.append(DischargeRefusalReason.BLOOD_PRESSURE_ABOVE_ALERT_THRESHOLD)
        explained.append(
            f"last BP {last.systolic}/{last.diastolic} mmHg is above "
            f"{alerts.alert_systolic_mmhg}/{alerts.alert_diastolic_mmhg}"
        )
    if not request.readiness_confirmed:
        reasons.append(DischargeRefusalReason.READINESS_NOT_CONFIRMED)
        explained.append("the readiness-to-leave check is not confirmed")
    if not request.escort_confirmed:
        reasons.append(DischargeRefusalReason.ESCORT_NOT_CONFIRMED)
        explained.append("no escort is confirmed")
    common = {
        "patient_id": session.scheduled.patient_id,
        "session_id": session.scheduled.session_id,
        "min_observation_minutes": rule.min_observation_minutes,
        "alert_systolic_mmhg": alerts.alert_systolic_mmhg,
        "alert_diastolic_mmhg": alerts.alert_diastolic_mmhg,
        "policy_version": policy.version,
    }
    if reasons:
        window_open = observed < rule.min_observation_minutes
        return [
            DischargeRefused(
                **common,
                attempted_at=at,
                reasons=reasons,
                explanation="; ".join(explained),
                earliest_discharge_at=ended + timedelta(minutes=rule.min_observation_minutes)
                if window_open
                else None,
                observation_minutes=max(observed, 0),
                last_systolic=last.systolic if last else None,
                last_diastolic=last.diastolic if last else None,
            )
        ]
    assert last is not None
    return [
        PatientDischarged(
            **common,
            discharged_at=at,
            observation_minutes=observed,
            last_systolic=last.systolic,
            last_diastolic=last.diastolic,
            readiness_confirmed=True,
            escort_confirmed=True,
            # days of the clinic's calendar (the service's clock reads its time zone)
            no_driving_until=at.astimezone(now.tzinfo).date()
            + timedelta(days=policy.discharge.no_driving_days),
        )
    ]


def check_status(session: DosingSession, wanted: DosingStatus, action: str) -> None:
    if session.status is not wanted:
        number, status = session.scheduled.session_number, session.status.value
        raise RuleViolation(
            f"cannot {action}: dosing session {number} is {status}, not {wanted.value}"
        )


def check_not_suspended(state: CourseState, action: str) -> None:
    if state.suspension is not None:
        raise RuleViolation(
            f"cannot {action}: the course is suspended ({state.suspension.reason.value}) "
            "until a clinician resumes it"
        )


def check_not_ended(state: CourseState, action: str) -> None:
    if state.ended is not None:
        raise RuleViolation(f"cannot {action}: the course has ended ({state.ended.reason.value})")


def check_consent_is_active(state: CourseState, action: str) -> None:
    if not state.consent_active:
        raise RuleViolation(
            f"cannot {action}: consent was withdrawn; new consent needs a new screening"
        )
