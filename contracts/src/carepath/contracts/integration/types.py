"""Value types of the integration context: practices, outcome timepoints, discontinuation
reasons, the outcome instruments and their item scores, and the policy figures (response
threshold, remission cut-off) that outcome events carry."""

from enum import StrEnum
from typing import Annotated, NamedTuple, Self

from pydantic import AfterValidator, Field, model_validator

from carepath.contracts.common import SCORED_ITEMS, Instrument, ShortText, ValueObject, measured


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
    Field(
        description="The outcome measure: PHQ9, GAD7, PCL5 or PAIN_NRS (not the C-SSRS screener)."
    ),
]
ItemScore = Annotated[int, Field(strict=True, ge=0, le=10)]
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


class OutcomeCriteria(ValueObject):
    """How the clinic policy judges an instrument's result against the patient's baseline
    (DOMAIN.md, Integration): a response is a reduction of at least `response_reduction_percent`
    (PHQ-9, GAD-7, pain) or of at least `response_reduction_points` (PCL-5); a substantial
    response (pain, IMMPACT) a reduction of at least `substantial_reduction_percent`; remission a
    total below `remission_below`. A criterion the policy does not set is not judged (null)."""

    response_reduction_percent: int | None = measured(
        "%", "Reduction from baseline that counts as a response", ge=1, le=100, default=None
    )
    response_reduction_points: int | None = measured(
        "points", "Reduction from baseline that counts as a response", ge=1, le=80, default=None
    )
    substantial_reduction_percent: int | None = measured(
        "%",
        "Reduction from baseline that counts as a substantial response",
        ge=1,
        le=100,
        default=None,
    )
    remission_below: int | None = Field(
        default=None, ge=1, le=80, description="A total below this is remission."
    )
    booster_above: int | None = Field(
        default=None,
        ge=0,
        le=80,
        description="A follow-up total rising back above this, after a measure at or below it, "
        "indicates a booster session (maintenance phase); null if the policy sets none.",
    )

    @model_validator(mode="after")
    def _one_response_rule(self) -> Self:
        if (self.response_reduction_percent is None) == (self.response_reduction_points is None):
            raise ValueError(
                "give one response rule: response_reduction_percent or response_reduction_points"
            )
        return self


class OutcomeJudgement(NamedTuple):
    """A result judged against its baseline under `OutcomeCriteria`; null where not judged."""

    response: bool | None
    substantial_response: bool | None
    remission: bool | None


def judge(criteria: OutcomeCriteria, baseline_total: int | None, total: int) -> OutcomeJudgement:
    """Judge `total` against the baseline in integer arithmetic, so a reduction of exactly the
    threshold counts. A percentage needs a baseline above 0; remission needs no baseline."""

    def reduced_by_percent(percent: int | None) -> bool | None:
        if percent is None or not baseline_total:
            return None
        return (baseline_total - total) * 100 >= percent * baseline_total

    if criteria.response_reduction_points is not None:
        response = (
            None
            if baseline_total is None
            else baseline_total - total >= criteria.response_reduction_points
        )
    else:
        response = reduced_by_percent(criteria.response_reduction_percent)
    below = criteria.remission_below
    return OutcomeJudgement(
        response=response,
        substantial_response=reduced_by_percent(criteria.substantial_reduction_percent),
        remission=None if below is None else total < below,
    )
