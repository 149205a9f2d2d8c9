"""Value types of the integration context: practices, outcome timepoints, discontinuation
reasons, the outcome instruments and their item scores, and the policy figures (response
threshold, remission cut-off) that outcome events carry."""

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

from carepath.contracts.common import SCORED_ITEMS, Instrument, ShortText, measured


class IntegrationPractice(StrEnum):
    """A practice the therapist assigns the patient between sessions."""

    JOURNALING = "journaling"
    MEDITATION = "meditation"
    NATURE_THERAPY = "nature_therapy"
    SOMATIC_PRACTICE = "somatic_practice"


class OutcomeTimepoint(StrEnum):
    """When in the pathway an outcome measure was taken."""

    BASELINE = "baseline"
    PRE_DOSE = "pre_dose"
    END_OF_COURSE = "end_of_course"
    FOLLOW_UP = "follow_up"


class DiscontinuationReason(StrEnum):
    """Why a course ended before it was completed."""

    PATIENT_CHOICE = "patient_choice"
    ADVERSE_EVENT = "adverse_event"
    NON_RESPONSE = "non_response"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


OUTCOME_ITEMS = SCORED_ITEMS
"""The instruments used as outcome measures: all the scored questionnaires."""


def _outcome_instrument(instrument: Instrument) -> Instrument:
    if instrument not in OUTCOME_ITEMS:
        allowed = ", ".join(OUTCOME_ITEMS)
        raise ValueError(f"{instrument.value} is not an outcome measure; allowed: {allowed}")
    return instrument


def check_item_scores(instrument: Instrument, scores: list[int], field: str) -> None:
    """Raise when `scores` (the value of `field`) has the wrong number of items for `instrument`
    or an item above its highest score; shared by the command and the event that carry them."""
    items, highest = OUTCOME_ITEMS[instrument]
    if len(scores) != items:
        raise ValueError(f"`{field}` needs {items} items for {instrument}, got {len(scores)}")
    for number, score in enumerate(scores, start=1):
        if score > highest:
            raise ValueError(
                f"`{field}` items of {instrument} are scored 0-{highest}; item {number} is {score}"
            )


def _each_once(practices: list[IntegrationPractice]) -> list[IntegrationPractice]:
    repeated = sorted({practice for practice in practices if practices.count(practice) > 1})
    if repeated:
        raise ValueError(f"list each practice once; repeated: {', '.join(repeated)}")
    return practices


OutcomeInstrument = Annotated[
    Instrument,
    AfterValidator(_outcome_instrument),
    Field(description="The outcome measure: PHQ9, GAD7 or PCL5 (not the C-SSRS screener)."),
]
ItemScore = Annotated[int, Field(strict=True, ge=0, le=4)]
Therapist = Annotated[
    ShortText, Field(description="The therapist who held the session (name or staff id).")
]
PracticesAssigned = Annotated[
    list[IntegrationPractice],
    AfterValidator(_each_once),
    Field(max_length=len(IntegrationPractice), description="Practices assigned, each once."),
]
Themes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]],
    Field(max_length=20, description="Themes that came up, as short phrases (PHI)."),
]
SessionNotes = Annotated[
    str | None, Field(max_length=10_000, description="The therapist's free-text notes (PHI).")
]
ResponseThresholdPercent = Annotated[
    int,
    measured(
        "%", "Policy: reduction from baseline that counts as a response; default 50", ge=1, le=100
    ),
]
RemissionBelow = Annotated[
    int, Field(ge=1, le=27, description="Policy: a PHQ-9 total below this is remission; default 5.")
]
Phq9Total = Annotated[int, Field(ge=0, le=27)]
