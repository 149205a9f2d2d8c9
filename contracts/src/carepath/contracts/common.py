"""Building blocks shared by the event catalog: the patient id, measured quantities with units,
policy references, and the value sets (enums) more than one context uses."""

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined


def measured(
    unit: str,
    description: str,
    *,
    ge: float | None = None,
    le: float | None = None,
    default: Any = PydanticUndefined,
) -> Any:
    """A `Field` for a measured quantity: the unit is in the description and in the JSON Schema
    (`"unit": "mmHg"`), the range in `minimum`/`maximum`."""
    return Field(
        default,
        description=f"{description} ({unit}).",
        ge=ge,
        le=le,
        json_schema_extra={"unit": unit},
    )


class ContractModel(BaseModel):
    """Base of every command (request body): immutable, and an unknown field is an error, so a
    misspelt field is reported instead of silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ValueObject(BaseModel):
    """Base of value objects that travel inside events (and the commands that carry them):
    immutable, unknown fields ignored, so a consumer on an older contract reads a newer,
    additive one, as with events."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)


PatientId = Annotated[UUID, Field(description="Pseudonymous patient id; the Kafka message key.")]
"""The patient an event is about. Every event carries it, and it is the Kafka message key and the
CloudEvents `subject`, so all of one patient's events in a context keep their order."""

PolicyVersion = Annotated[
    str,
    Field(
        min_length=1,
        max_length=50,
        description="Version of the clinic policy the decision ran under, e.g. `2026.1`.",
        examples=["2026.1"],
    ),
]
"""Carried by every policy-driven event, so an auditor sees which policy a decision used."""

ChartedTime = Annotated[
    AwareDatetime,
    Field(description="When it happened, as charted by staff (ISO 8601 with offset); may be past."),
]

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Rationale = Annotated[
    str, Field(min_length=10, max_length=4000, description="A clinician's written rationale.")
]

SystolicMmHg = Annotated[int, measured("mmHg", "Systolic blood pressure", ge=50, le=300)]
DiastolicMmHg = Annotated[int, measured("mmHg", "Diastolic blood pressure", ge=20, le=200)]
HeartRateBpm = Annotated[int, measured("bpm", "Heart rate", ge=20, le=250)]
SpO2Percent = Annotated[int, measured("%", "Oxygen saturation (SpO2)", ge=50, le=100)]
WeightKg = Annotated[float, measured("kg", "Body weight", ge=20, le=400)]


class Instrument(StrEnum):
    """Scored questionnaires: PHQ-9 (depression), GAD-7 (anxiety), PCL-5 (PTSD), C-SSRS screener
    (suicide risk), and the 0-10 Numeric Rating Scale of average pain intensity over the last
    week (chronic pain; one answer)."""

    PHQ9 = "PHQ9"
    GAD7 = "GAD7"
    PCL5 = "PCL5"
    CSSRS = "CSSRS"
    PAIN_NRS = "PAIN_NRS"


SCORED_ITEMS: dict[Instrument, tuple[int, int]] = {
    Instrument.PHQ9: (9, 3),
    Instrument.GAD7: (7, 3),
    Instrument.PCL5: (20, 4),
    Instrument.PAIN_NRS: (1, 10),
}
"""The scored questionnaires: number of items, and the highest item score (the lowest is 0)."""


class SeverityBand(StrEnum):
    """Severity band of a PHQ-9 or GAD-7 total (Kroenke 2001, Spitzer 2006)."""

    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    MODERATELY_SEVERE = "moderately_severe"
    SEVERE = "severe"


class SuicideRisk(StrEnum):
    """Risk level from the C-SSRS screener."""

    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class TherapyModality(StrEnum):
    """Psychotherapy modality of a preparation or integration session."""

    CBT = "cbt"
    ACT = "act"
    IFS = "ifs"
    MINDFULNESS_BASED = "mindfulness_based"
    SOMATIC = "somatic"


class AdverseEventSeverity(StrEnum):
    """Intensity of an adverse event. Whether it is *serious* (an outcome: hospitalisation,
    lasting harm, life-threatening) is recorded separately."""

    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    LIFE_THREATENING = "life_threatening"
