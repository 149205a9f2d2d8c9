"""Building blocks shared by the event catalog: the patient id, measured quantities with units,
policy references, the bounds on what a client may send (times, control characters), and the
value sets (enums) more than one context uses."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticUndefined

EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
"""No time a client sends lies before it: nothing in a patient's pathway happened before 1900."""

TIME_LIMIT = datetime(3000, 1, 1, tzinfo=UTC)
"""Every time a client sends lies before it: far beyond any booking, and far enough from year
9999 that converting a bounded time to UTC, or adding days to it, can never overflow."""

CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""The C0 control characters a client may not send in a string: all but tab, line feed and
carriage return. NUL in particular, which PostgreSQL refuses to store."""


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


def within_time_bounds(value: datetime) -> datetime:
    """Refuse a time before `EARLIEST_TIME` or from `TIME_LIMIT` on. Compared as instants, so
    any offset is allowed; comparing aware times never overflows, converting them may."""
    if value < EARLIEST_TIME:
        raise PydanticCustomError(
            "datetime_too_early", "must not be before {earliest}", {"earliest": _iso(EARLIEST_TIME)}
        )
    if value >= TIME_LIMIT:
        raise PydanticCustomError(
            "datetime_too_late", "must be before {limit}", {"limit": _iso(TIME_LIMIT)}
        )
    return value


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


BoundedDatetime = Annotated[
    AwareDatetime,
    AfterValidator(within_time_bounds),
    Field(
        json_schema_extra={
            "formatMinimum": _iso(EARLIEST_TIME),
            "formatExclusiveMaximum": _iso(TIME_LIMIT),
        }
    ),
]
"""A time a client sends (ISO 8601 with offset): from 1900 (UTC) and before 3000. Whatever its
offset, it converts to UTC and takes days of arithmetic without overflowing."""


def control_characters(value: Any, loc: tuple[str | int, ...] = ()) -> Iterator[InitErrorDetails]:
    """One error per string in `value` (a request body as parsed from JSON, or a model: dicts,
    lists and models are walked all the way down) that holds a `CONTROL_CHARACTER`, located at
    its path under `loc`."""
    if isinstance(value, str):
        if found := CONTROL_CHARACTER.search(value):
            yield InitErrorDetails(
                type=PydanticCustomError(
                    "control_character",
                    "must not contain control characters (found {character} at position "
                    "{position}); only tab, line feed and carriage return are allowed",
                    {"character": f"U+{ord(found.group()):04X}", "position": found.start()},
                ),
                loc=loc,
                input=value,
            )
    elif isinstance(value, BaseModel):
        for name, item in value:
            yield from control_characters(item, (*loc, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from control_characters(item, (*loc, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from control_characters(key, (*loc, str(key)))
            yield from control_characters(item, (*loc, str(key)))


class ContractModel(BaseModel):
    """Base of every command (request body): immutable, and an unknown field is an error, so a
    misspelt field is reported instead of silently dropped. No string in a request body, however
    deeply nested, may hold a control character other than tab, line feed or carriage return:
    each one is an error located at its field, reported before anything else is checked."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        if errors := list(control_characters(data)):
            # As a ValidationError, pydantic keeps each error's own location (the nested field);
            # a ValueError would be reported against the whole body.
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


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
    BoundedDatetime,
    Field(
        description="When it happened, as charted by staff (ISO 8601 with offset); may be past, "
        "not before 1900 (UTC) nor ahead of the service's clock."
    ),
]
"""A charted time a client sends: bounded here (1900 on); the service, which has the clock,
refuses one ahead of it (`carepath.chassis.charting.charted`)."""

ChartedTimeAsRecorded = Annotated[
    AwareDatetime,
    Field(description="When it happened, as charted by staff (ISO 8601 with offset); may be past."),
]
"""A charted time in the events published before `ChartedTime` was bounded: unbounded, as their
schemas are, because readers must still read every event in the log, whenever it was charted."""

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
