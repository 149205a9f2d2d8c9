"""Events of the integration context (`carepath.integration.events`), current versions.
Superseded versions and their upcasters go in `versions`.

After each dosing session an integration session is due within the policy window. Outcome
measures (PHQ-9, GAD-7, PCL-5) are scored by the service from item answers and compared with the
baseline. A course ends completed or discontinued with a reason.
"""

import json
from typing import Annotated, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from carepath.contracts.common import (
    ChartedTime,
    Instrument,
    PatientId,
    PolicyVersion,
    TherapyModality,
    measured,
)
from carepath.contracts.events import DomainEvent, registry
from carepath.contracts.integration.types import (
    OUTCOME_ITEMS,
    DiscontinuationReason,
    ItemScore,
    OutcomeInstrument,
    OutcomeTimepoint,
    Phq9Total,
    PracticesAssigned,
    RemissionBelow,
    ResponseThresholdPercent,
    SessionNotes,
    Themes,
    Therapist,
    check_item_scores,
)


def _is_response(baseline_total: int, total: int, threshold_percent: int) -> bool:
    # Integer arithmetic: a reduction of exactly the threshold counts, with no rounding error.
    return (baseline_total - total) * 100 >= threshold_percent * baseline_total


class IntegrationEvent(DomainEvent):
    """Base of the integration context's events."""

    context = "integration"


@registry.register
class IntegrationSessionDue(IntegrationEvent):
    """A patient was discharged from a dosing session: an integration session is due by `due_by`."""

    clinical_time_field = "discharged_at"

    patient_id: PatientId
    dosing_session_id: UUID = Field(description="The dosing session to integrate.")
    discharged_at: ChartedTime = Field(
        description="When the patient was discharged from the dosing session, as charted."
    )
    due_by: AwareDatetime = Field(
        description="When the integration session is due: `discharged_at` plus `window_hours`."
    )
    window_hours: int = measured(
        "h", "Policy: time allowed for integration after discharge; default 72", ge=1, le=720
    )
    policy_version: PolicyVersion

    @model_validator(mode="after")
    def _due_after_discharge(self) -> Self:
        if self.due_by <= self.discharged_at:
            raise ValueError(
                f"`due_by` must be after `discharged_at` ({self.discharged_at.isoformat()}), "
                f"got {self.due_by.isoformat()}"
            )
        return self


@registry.register
class IntegrationSessionOverdue(IntegrationEvent):
    """No integration session was charted for a dosing session by its due time."""

    clinical_time_field = "due_by"

    patient_id: PatientId
    dosing_session_id: UUID = Field(description="The dosing session still awaiting integration.")
    due_by: AwareDatetime = Field(description="When the integration session was due.")
    detected_at: AwareDatetime = Field(description="When the service found it overdue.")

    @model_validator(mode="after")
    def _detected_after_due(self) -> Self:
        if self.detected_at <= self.due_by:
            raise ValueError(
                f"`detected_at` must be after `due_by` ({self.due_by.isoformat()}), "
                f"got {self.detected_at.isoformat()}"
            )
        return self


@registry.register
class IntegrationSessionCompleted(IntegrationEvent):
    """An integration session was held and charted."""

    clinical_time_field = "held_at"

    patient_id: PatientId
    integration_session_id: UUID = Field(description="Id of the integration session.")
    dosing_session_id: UUID | None = Field(
        default=None, description="The dosing session this session integrates, if any."
    )
    held_at: ChartedTime
    therapist: Therapist
    modality: TherapyModality = Field(description="Psychotherapy modality of the session.")
    practices_assigned: PracticesAssigned
    themes: Themes
    notes: SessionNotes = None


@registry.register
class OutcomeMeasured(IntegrationEvent):
    """An outcome measure was scored and compared with the patient's baseline.

    Response is a reduction from a non-zero baseline of at least `response_threshold_percent`;
    remission (PHQ-9 only) is a total below `remission_below`.
    """

    clinical_time_field = "measured_at"

    patient_id: PatientId
    instrument: OutcomeInstrument
    item_scores: list[ItemScore] = Field(
        min_length=1, max_length=20, description="Item answers in questionnaire order."
    )
    total: int = Field(ge=0, le=80, description="Sum of `item_scores`, computed by the service.")
    measured_at: ChartedTime
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
class CourseCompleted(IntegrationEvent):
    """The patient's course was completed, with the PHQ-9 result against baseline."""

    clinical_time_field = "completed_at"

    patient_id: PatientId
    course_id: UUID = Field(description="Id of the course.")
    completed_at: ChartedTime
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


@registry.register
class CourseDiscontinued(IntegrationEvent):
    """The patient's course ended before completion."""

    clinical_time_field = "discontinued_at"

    patient_id: PatientId
    course_id: UUID = Field(description="Id of the course.")
    discontinued_at: ChartedTime
    reason: DiscontinuationReason = Field(description="Why the course ended early.")
    details: str | None = Field(
        default=None, max_length=4000, description="What led to the decision (PHI)."
    )
