"""Value types of the session context: the constrained scalars (doses, alert thresholds, the
observation window, PHQ-9 answers) and the value sets (enums) its commands and events share."""

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from carepath.contracts.common import measured

Intention = Annotated[str, Field(min_length=1, max_length=500)]
ClinicalNotes = Annotated[str, Field(min_length=1, max_length=4000)]
Phq9ItemAnswer = Annotated[
    int,
    Field(
        strict=True,
        ge=0,
        le=3,
        description="A PHQ-9 item answer: 0 not at all ... 3 nearly every day.",
    ),
]
CadssTotal = Annotated[
    int, Field(ge=0, le=92, description="CADSS dissociation total: 23 items 0-4, total 0-92.")
]

# The upper bound only catches entry errors (a slipped decimal point); the policy range is checked
# by the service and a clinician may override it.
DoseMg = Annotated[float, measured("mg", "Ketamine dose", le=3000), Field(gt=0)]
AlertSystolicMmHg = Annotated[
    int,
    measured("mmHg", "Alert threshold: systolic BP above it, policy default 180", ge=50, le=300),
]
AlertDiastolicMmHg = Annotated[
    int,
    measured("mmHg", "Alert threshold: diastolic BP above it, policy default 100", ge=20, le=200),
]
AlertHeartRateBpm = Annotated[
    int, measured("bpm", "Alert threshold: heart rate above it, policy default 110", ge=20, le=250)
]
ObservationWindowMinutes = Annotated[
    int,
    measured("min", "Least observation after the dose before discharge, policy default 120", ge=0),
]


class Route(StrEnum):
    """How the ketamine is given."""

    IV = "iv"
    IM = "im"
    ORAL = "oral"
    SUBLINGUAL = "sublingual"


class SideEffect(StrEnum):
    """A side effect seen during a dosing session; `other` needs a description."""

    NAUSEA = "nausea"
    DIZZINESS = "dizziness"
    HEADACHE = "headache"
    ANXIETY = "anxiety"
    OTHER = "other"


class SedationLevel(StrEnum):
    """Level of sedation observed, from fully alert to unresponsive."""

    ALERT = "alert"
    DROWSY = "drowsy"
    RESPONDS_TO_VOICE = "responds_to_voice"
    RESPONDS_TO_TOUCH = "responds_to_touch"
    UNRESPONSIVE = "unresponsive"


class CourseSuspensionReason(StrEnum):
    """Why a course was suspended: no further dosing until it is resumed."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    SERIOUS_ADVERSE_EVENT = "serious_adverse_event"
    CLINICIAN_DECISION = "clinician_decision"


class CourseOpeningBasis(StrEnum):
    """What allowed the course to open: an `eligible` screening or an approved clinician review."""

    ELIGIBLE = "eligible"
    REVIEW_APPROVED = "review_approved"


class CoursePhase(StrEnum):
    """The phase of a course a dosing session belongs to: the induction plan, or the maintenance
    phase a clinician starts after it (DOMAIN.md, After induction)."""

    INDUCTION = "induction"
    MAINTENANCE = "maintenance"


class VitalsAlertKind(StrEnum):
    """Which alert threshold a vitals reading went above."""

    BLOOD_PRESSURE_HIGH = "blood_pressure_high"
    HEART_RATE_HIGH = "heart_rate_high"


class DischargeRefusalReason(StrEnum):
    """Why a discharge was refused."""

    OBSERVATION_WINDOW_NOT_ELAPSED = "observation_window_not_elapsed"
    BLOOD_PRESSURE_ABOVE_ALERT_THRESHOLD = "blood_pressure_above_alert_threshold"
    NO_BLOOD_PRESSURE_SINCE_DOSE = "no_blood_pressure_since_dose"
    NO_BLOOD_PRESSURE_AFTER_EXPECTED_PEAK = "no_blood_pressure_after_expected_peak"
    READINESS_NOT_CONFIRMED = "readiness_not_confirmed"
    ESCORT_NOT_CONFIRMED = "escort_not_confirmed"


class CourseBarReason(StrEnum):
    """Why no course may open for a patient."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    SCREENING_DECLINED = "screening_declined"
    SCREENING_CLOSED = "screening_closed"


class CourseEndReason(StrEnum):
    """How the course ended: as integration recorded it (completed, discontinued), or because
    the clinic said no after it opened (a clinician declined on review, or the screening was
    closed when consent was withdrawn)."""

    COMPLETED = "completed"
    DISCONTINUED = "discontinued"
    SCREENING_DECLINED = "screening_declined"
    SCREENING_CLOSED = "screening_closed"
