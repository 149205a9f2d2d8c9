"""Superseded versions of the session context's events, each with the upcaster to the next
version. They stay registered so that old events in the log (kept forever) remain readable;
`registry.parse` reads them as the current version in `events`.
"""

from typing import Any
from uuid import UUID

from pydantic import Field

from carepath.contracts.common import ChartedTimeAsRecorded, HeartRateBpm, PatientId, SpO2Percent
from carepath.contracts.events import registry, sealed_successor
from carepath.contracts.session.events import (
    AdverseEventReported,
    BoosterSessionAdded,
    CourseResumed,
    CourseSuspended,
    DoseAdministered,
    MaintenancePhaseStarted,
    ObservationRecorded,
    PreparationSessionCompleted,
    SessionEvent,
)


@registry.register
class VitalsRecordedV1(SessionEvent):
    """Version 1 of `VitalsRecorded` (superseded): blood pressure as one charted text, e.g.
    `"128/84"`. Kept so that v1 events in the log stay readable; read as v2.

    The worked example of versioning: splitting a field changes its type, which no additive
    change can do, so v2 is a new type with an upcaster from v1 (contracts/README.md).
    """

    clinical_time_field = "measured_at"

    event_name = "VitalsRecorded"

    patient_id: PatientId
    session_id: UUID = Field(description="The dosing session.")
    measured_at: ChartedTimeAsRecorded = Field(description="When the vitals were taken.")
    blood_pressure: str = Field(
        pattern=r"^[0-9]{2,3}/[0-9]{2,3}$", description="Systolic/diastolic (mmHg), e.g. 128/84."
    )
    heart_rate: HeartRateBpm
    spo2: SpO2Percent


@registry.upcaster(VitalsRecordedV1)
def _blood_pressure_text_becomes_two_numbers(v1: dict[str, Any]) -> dict[str, Any]:
    systolic, diastolic = v1.pop("blood_pressure").split("/")
    return {
        **v1,
        "systolic": int(systolic),
        "diastolic": int(diastolic),
        "minutes_since_dose": None,
    }


# Version 2 of these seals their identifying and free-text fields with the patient's data key;
# version 1 carried them in clear and is read as version 2 (the payload unchanged).
AdverseEventReportedV1 = sealed_successor(AdverseEventReported, __name__)
BoosterSessionAddedV1 = sealed_successor(BoosterSessionAdded, __name__)
CourseResumedV1 = sealed_successor(CourseResumed, __name__)
CourseSuspendedV1 = sealed_successor(CourseSuspended, __name__)
DoseAdministeredV1 = sealed_successor(DoseAdministered, __name__)
MaintenancePhaseStartedV1 = sealed_successor(MaintenancePhaseStarted, __name__)
ObservationRecordedV1 = sealed_successor(ObservationRecorded, __name__)
PreparationSessionCompletedV1 = sealed_successor(PreparationSessionCompleted, __name__)
