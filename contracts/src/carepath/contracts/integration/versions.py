"""Superseded versions of the integration context's events, each with the upcaster to the next
version. They stay registered so that old events in the log (kept forever) remain readable;
`registry.parse` reads them as the current version in `events`.
"""

import json
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import Field, model_validator

from carepath.contracts.common import (
    ChartedTimeAsRecorded,
    Instrument,
    PatientId,
    PolicyVersion,
    measured,
)
from carepath.contracts.events import registry, sealed_successor
from carepath.contracts.integration.events import (
    CourseDiscontinued,
    IntegrationEvent,
    IntegrationSessionCompleted,
)
from carepath.contracts.integration.types import (
    OUTCOME_ITEMS,
    ItemScore,
    OutcomeInstrument,
    OutcomeTimepoint,
    Phq9Total,
    RemissionBelow,
    ResponseThresholdPercent,
    check_item_scores,
)


def _is_response(baseline_total: int, total: int, threshold_percent: int) -> bool:
    # Integer arithmetic: a reduction of exactly the threshold counts, with no rounding error.
    return (baseline_total - total) * 100 >= threshold_percent * baseline_total


@registry.register
class OutcomeMeasuredV1(IntegrationEvent):
    """Version 1 of `OutcomeMeasured` (superseded): every instrument judged by PHQ-9's response
    percentage, remission for PHQ-9 only. Read as v2.

    Response is a reduction from a non-zero baseline of at least `response_threshold_percent`;
    remission (PHQ-9 only) is a total below `remission_below`.
    """

    event_name = "OutcomeMeasured"
    clinical_time_field = "measured_at"

    patient_id: PatientId
    instrument: OutcomeInstrument
    item_scores: list[ItemScore] = Field(
        min_length=1, max_length=20, description="Item answers in questionnaire order."
    )
    total: int = Field(ge=0, le=80, description="Sum of `item_scores`, computed by the service.")
    measured_at: ChartedTimeAsRecorded
    timepoint: OutcomeTimepoint = Field(description="When in the pathway the measure was taken.")
    baseline_total: int | None = Field(
        default=None,
        ge=0,
        le=80,
        description="Total of the patient's baseline measure on this instrument; null if none.",
    )
    change_from_baseline_percent: Annotated[
        float | None,
        measured(
            "%",
            "(total - baseline_total) / baseline_total x 100, within 0.05; negative is an "
            "improvement; null unless baseline_total is above 0",
            ge=-100,
        ),
    ] = None
    response: bool | None = Field(
        default=None,
        description="Reduction from baseline of at least `response_threshold_percent`; null "
        "unless baseline_total is above 0.",
    )
    remission: bool | None = Field(
        default=None,
        description="PHQ9 only: `total` is below `remission_below`; null for other instruments.",
    )
    response_threshold_percent: ResponseThresholdPercent
    remission_below: RemissionBelow
    policy_version: PolicyVersion

    @model_validator(mode="after")
    def _scores_agree(self) -> Self:
        check_item_scores(self.instrument, self.item_scores, "item_scores")
        if self.total != sum(self.item_scores):
            raise ValueError(
                f"`total` must be the sum of `item_scores`, {sum(self.item_scores)}; "
                f"got {self.total}"
            )
        items, highest = OUTCOME_ITEMS[self.instrument]
        if self.baseline_total is not None and self.baseline_total > items * highest:
            raise ValueError(
                f"`baseline_total` of {self.instrument} must be 0-{items * highest}, "
                f"got {self.baseline_total}"
            )
        self._check_against_baseline()
        is_phq9 = self.instrument is Instrument.PHQ9
        if not is_phq9 and self.remission is not None:
            raise ValueError(f"`remission` must be null for {self.instrument}; it is PHQ9 only")
        if is_phq9 and self.remission != (self.total < self.remission_below):
            raise ValueError(
                f"`remission` must be {json.dumps(self.total < self.remission_below)}: PHQ9 total "
                f"{self.total}, remission below {self.remission_below}"
            )
        return self

    def _check_against_baseline(self) -> None:
        baseline = self.baseline_total
        if baseline is None or baseline == 0:
            if self.change_from_baseline_percent is not None or self.response is not None:
                raise ValueError(
                    "`change_from_baseline_percent` and `response` must be null unless "
                    "`baseline_total` is above 0"
                )
            return
        expected = (self.total - baseline) / baseline * 100
        change = self.change_from_baseline_percent
        if change is None or abs(change - expected) > 0.051:
            raise ValueError(
                f"`change_from_baseline_percent` must be {expected:.1f} "
                f"(total {self.total}, baseline {baseline}), got {change}"
            )
        responded = _is_response(baseline, self.total, self.response_threshold_percent)
        if self.response != responded:
            raise ValueError(
                f"`response` must be {json.dumps(responded)}: change {expected:.1f}%, a "
                f"response is a reduction of at least {self.response_threshold_percent}%"
            )


@registry.register
class CourseCompletedV1(IntegrationEvent):
    """Version 1 of `CourseCompleted` (superseded): the PHQ-9 result only. Read as v2."""

    event_name = "CourseCompleted"
    clinical_time_field = "completed_at"

    patient_id: PatientId
    course_id: UUID = Field(description="Id of the course.")
    completed_at: ChartedTimeAsRecorded
    dosing_sessions_completed: int = Field(
        ge=1, le=100, description="Dosing sessions the patient completed in the course."
    )
    final_phq9_total: Phq9Total | None = Field(
        default=None, description="PHQ-9 total of the final outcome measure; null if none."
    )
    baseline_phq9_total: Phq9Total | None = Field(
        default=None, description="PHQ-9 total at baseline; null if none."
    )
    response: bool | None = Field(
        default=None,
        description="Final PHQ-9 reduced from baseline by at least `response_threshold_percent`; "
        "null unless both totals are known and the baseline is above 0.",
    )
    remission: bool | None = Field(
        default=None,
        description="Final PHQ-9 below `remission_below`; null unless the final total is known.",
    )
    response_threshold_percent: ResponseThresholdPercent
    remission_below: RemissionBelow
    policy_version: PolicyVersion

    @model_validator(mode="after")
    def _results_agree(self) -> Self:
        final, baseline = self.final_phq9_total, self.baseline_phq9_total
        if final is None or baseline is None or baseline == 0:
            if self.response is not None:
                raise ValueError(
                    "`response` must be null unless `final_phq9_total` and `baseline_phq9_total` "
                    "are both set and the baseline is above 0"
                )
        else:
            responded = _is_response(baseline, final, self.response_threshold_percent)
            if self.response != responded:
                raise ValueError(
                    f"`response` must be {json.dumps(responded)}: PHQ9 {baseline} -> {final}, "
                    f"a response is a reduction of at least {self.response_threshold_percent}%"
                )
        remitted = None if final is None else final < self.remission_below
        if self.remission != remitted:
            raise ValueError(
                f"`remission` must be {json.dumps(remitted)}: final PHQ9 total "
                f"{json.dumps(final)}, remission below {self.remission_below}"
            )
        return self


def _v1_criteria(v1: dict[str, Any], judged_remission: bool) -> dict[str, Any]:
    # v1 judged response by one percentage for every instrument, and remission for PHQ-9 only.
    return {
        "response_reduction_percent": v1["response_threshold_percent"],
        "remission_below": v1["remission_below"] if judged_remission else None,
    }


@registry.upcaster(OutcomeMeasuredV1)
def _outcome_criteria_per_instrument(v1: dict[str, Any]) -> dict[str, Any]:
    baseline, is_phq9 = v1["baseline_total"], v1["instrument"] == Instrument.PHQ9
    v2 = {k: v for k, v in v1.items() if k not in ("response_threshold_percent", "remission_below")}
    return {
        **v2,
        "criteria": _v1_criteria(v1, judged_remission=is_phq9),
        "change_from_baseline_points": None if baseline is None else v1["total"] - baseline,
        "substantial_response": None,
    }


@registry.upcaster(CourseCompletedV1)
def _course_result_names_its_instrument(v1: dict[str, Any]) -> dict[str, Any]:
    renamed = {"final_phq9_total", "baseline_phq9_total", "response_threshold_percent"}
    v2 = {k: v for k, v in v1.items() if k not in renamed | {"remission_below"}}
    return {
        **v2,
        "criteria": _v1_criteria(v1, judged_remission=v1["final_phq9_total"] is not None),
        "instrument": Instrument.PHQ9,
        "final_total": v1["final_phq9_total"],
        "baseline_total": v1["baseline_phq9_total"],
        "substantial_response": None,
    }


# Version 2 of these seals their identifying and free-text fields with the patient's data key;
# version 1 carried them in clear and is read as version 2 (the payload unchanged).
CourseDiscontinuedV1 = sealed_successor(CourseDiscontinued, __name__)
IntegrationSessionCompletedV1 = sealed_successor(IntegrationSessionCompleted, __name__)
