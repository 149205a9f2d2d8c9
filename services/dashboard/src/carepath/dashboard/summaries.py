"""One-line summaries of events for the timeline and alerts.

Summaries carry no names, contact details or free-text notes: the dashboard holds no patient's
data key, and reads those fields sealed (PHI stays in the services)."""

from typing import Any

from carepath.contracts import DomainEvent


def summary_of(event: DomainEvent) -> str:
    """A short line a clinician reads at a glance."""
    data: Any = event
    match event.name():
        case "PatientReferred":
            return f"Referred for {data.referral_reason.value.replace('_', ' ')}"
        case "ErasureRecorded":
            ground = data.ground.value.replace("_", " ")
            return f"Identifying and free-text data erased ({ground}, {data.request_reference})"
        case "AssessmentScored":
            band = f" ({data.band.value.replace('_', ' ')})" if data.band else ""
            return f"{data.instrument.value} {data.total}{band}"
        case "SuicideRiskScreened":
            return f"C-SSRS risk {data.risk.value}"
        case "SuicidalityFlagRaised":
            return f"{data.detail}: same-day follow-up"
        case "IntakeCompleted":
            return f"Intake complete: PHQ-9 {data.phq9_total}, age {data.age_years}"
        case "EligibilityDetermined":
            outcome = data.outcome.value.replace("_", " ")
            return f"Screening: {outcome} ({len(data.findings)} rules fired)"
        case "EligibilityReviewed":
            return f"Clinician review: {data.decision.value}"
        case "CourseOpened":
            return f"Course opened: {data.planned_dosing_sessions} dosing sessions planned"
        case "BoosterIndicated":
            rose = f"{data.previous_total} -> {data.total}"
            return f"Booster indicated: {data.instrument.value} {rose}, above {data.booster_above}"
        case "BoosterSessionAdded":
            return f"Booster session added ({data.boosters} of at most {data.max_boosters})"
        case "MaintenancePhaseStarted":
            every = f"every {data.min_interval_days}-{data.max_interval_days} days"
            return f"Maintenance phase: {data.planned_sessions} more dosing sessions, {every}"
        case "DosingSessionScheduled":
            phase = f" ({data.phase.value})" if data.phase else ""
            return f"Dosing session {data.session_number} scheduled{phase}"
        case "PatientCheckedIn":
            return f"Checked in: BP {data.systolic}/{data.diastolic}, HR {data.heart_rate}"
        case "DosingDeferred":
            return f"Dosing deferred: {data.reason}"
        case "DoseAdministered":
            route = data.route.value.upper()
            return f"Dose {data.dose_mg:g} mg {route} ({data.dose_mg_per_kg:g} mg/kg)"
        case "VitalsRecorded":
            bp = f"{data.systolic}/{data.diastolic}"
            return f"Vitals: BP {bp}, HR {data.heart_rate}, SpO2 {data.spo2}%"
        case "VitalsAlertRaised":
            return f"BP {data.systolic}/{data.diastolic}, HR {data.heart_rate} above alert limits"
        case "AdverseEventReported":
            serious = "serious " if data.serious else ""
            return f"{serious}adverse event ({data.severity.value})".capitalize()
        case "DischargeRefused":
            return f"Discharge refused: {data.explanation}"
        case "PatientDischarged":
            return f"Discharged after {data.observation_minutes} min"
        case "IntegrationSessionDue":
            return f"Integration session due by {data.due_by:%Y-%m-%d %H:%M}"
        case "IntegrationSessionOverdue":
            return f"Integration session overdue (due {data.due_by:%Y-%m-%d %H:%M})"
        case "OutcomeMeasured":
            return (
                f"{data.instrument.value} {data.total} ({data.timepoint.value.replace('_', ' ')})"
            )
        case "CourseCompleted":
            instrument = data.instrument.value
            return f"Course completed: {instrument} {data.baseline_total} -> {data.final_total}"
        case "CourseDiscontinued":
            return f"Course discontinued: {data.reason.value.replace('_', ' ')}"
    return event.name()
