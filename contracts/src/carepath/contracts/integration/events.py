"""Events of the integration context (`carepath.integration.events`), current versions.
Superseded versions and their upcasters go in `versions`.

After each dosing session an integration session is due within the policy window. Outcome
measures (PHQ-9, GAD-7, PCL-5, pain NRS) are scored by the service from item answers and judged
against the baseline under the policy's criteria for the instrument. A course ends completed or
discontinued with a reason.
"""

import json
from typing import Annotated, Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from carepath.contracts.common import (
    ChartedTimeAsRecorded,
    PatientId,
    PolicyVersion,
    TherapyModality,
    measured,
)
from carepath.contracts.events import DomainEvent, registry
from carepath.contracts.intake.types import SuicidalityFinding  # one flag, in three contexts
from carepath.contracts.integration.types import (
    OUTCOME_ITEMS,
    DiscontinuationReason,
    ItemScore,
    OutcomeCriteria,
    OutcomeInstrument,
    OutcomeJudgement,
    OutcomeTimepoint,
    PracticesAssigned,
    SessionNotes,
    Themes,
    Therapist,
    check_item_scores,
    judge,
)
from carepath.contracts.privacy import FREE_TEXT


class IntegrationEvent(DomainEvent):
    """Base of the integration context's events."""

    context = "integration"


@registry.register
class IntegrationSessionDue(IntegrationEvent):
    """A patient was discharged from a dosing session: an integration session is due by `due_by`."""

    clinical_time_field = "discharged_at"

    patient_id: PatientId
    dosing_session_id: UUID = Field(description="The dosing session to integrate.")
    discharged_at: ChartedTimeAsRecorded = Field(
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

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "held_at"

    patient_id: PatientId
    integration_session_id: UUID = Field(description="Id of the integration session.")
    dosing_session_id: UUID | None = Field(
        default=None, description="The dosing session this session integrates, if any."
    )
    held_at: ChartedTimeAsRecorded
    therapist: Therapist
    modality: TherapyModality = Field(description="Psychotherapy modality of the session.")
    practices_assigned: PracticesAssigned
    themes: Themes = Field(json_schema_extra=FREE_TEXT)
    notes: SessionNotes = Field(default=None, json_schema_extra=FREE_TEXT)


@registry.register
class OutcomeMeasured(IntegrationEvent):
    """An outcome measure was scored and judged against the patient's baseline under the
    criteria of its instrument (`criteria`, from the clinic policy): response, a substantial
    response and remission, each null where the policy does not judge it or no baseline is known.

    Version 2: v1 judged every instrument by PHQ-9's percentage and cut-off; v2 carries the
    criteria per instrument (PCL-5 by points, pain with a substantial response). v1 events are
    read as v2 (`versions.OutcomeMeasuredV1`).
    """

    version = 2
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
    change_from_baseline_points: int | None = Field(
        default=None,
        ge=-80,
        le=80,
        description="total - baseline_total; negative is an improvement; null without a baseline.",
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
        default=None, description="A response under `criteria`; null if not judged."
    )
    substantial_response: bool | None = Field(
        default=None, description="A substantial response under `criteria`; null if not judged."
    )
    remission: bool | None = Field(
        default=None, description="A remission under `criteria`; null if not judged."
    )
    criteria: OutcomeCriteria = Field(description="The policy's criteria for this instrument.")
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
        baseline = self.baseline_total
        if baseline is not None and baseline > items * highest:
            raise ValueError(
                f"`baseline_total` of {self.instrument} must be 0-{items * highest}, got {baseline}"
            )
        points = None if baseline is None else self.total - baseline
        if self.change_from_baseline_points != points:
            raise ValueError(f"`change_from_baseline_points` must be {json.dumps(points)}")
        change = self.change_from_baseline_percent
        if not baseline:
            if change is not None:
                raise ValueError(
                    "`change_from_baseline_percent` must be null unless `baseline_total` is above 0"
                )
        elif change is None or abs(change - (self.total - baseline) / baseline * 100) > 0.051:
            expected = (self.total - baseline) / baseline * 100
            raise ValueError(
                f"`change_from_baseline_percent` must be {expected:.1f} "
                f"(total {self.total}, baseline {baseline}), got {change}"
            )
        _check_judgement(self, judge(self.criteria, baseline, self.total))
        return self


@registry.register
class CourseCompleted(IntegrationEvent):
    """The patient's course was completed, with the final result on the instrument of the
    patient's indication judged against its baseline under `criteria`.

    Version 2: v1 reported PHQ-9 only (`final_phq9_total`); v2 names the instrument (GAD-7 for
    anxiety, PCL-5 for PTSD, pain NRS for chronic pain). v1 events are read as v2.
    """

    version = 2
    clinical_time_field = "completed_at"

    patient_id: PatientId
    course_id: UUID = Field(description="Id of the course.")
    completed_at: ChartedTimeAsRecorded
    dosing_sessions_completed: int = Field(
        ge=1, le=100, description="Dosing sessions the patient completed in the course."
    )
    instrument: OutcomeInstrument
    final_total: int | None = Field(
        default=None, ge=0, le=80, description="Total of the final outcome measure; null if none."
    )
    baseline_total: int | None = Field(
        default=None, ge=0, le=80, description="Baseline total on the instrument; null if none."
    )
    response: bool | None = Field(
        default=None, description="A response under `criteria`; null if not judged."
    )
    substantial_response: bool | None = Field(
        default=None, description="A substantial response under `criteria`; null if not judged."
    )
    remission: bool | None = Field(
        default=None, description="A remission under `criteria`; null if not judged."
    )
    criteria: OutcomeCriteria = Field(description="The policy's criteria for the instrument.")
    policy_version: PolicyVersion

    @model_validator(mode="after")
    def _results_agree(self) -> Self:
        if self.final_total is None:
            unjudged = OutcomeJudgement(response=None, substantial_response=None, remission=None)
            _check_judgement(self, unjudged)
        else:
            _check_judgement(self, judge(self.criteria, self.baseline_total, self.final_total))
        return self


def _check_judgement(event: OutcomeMeasured | CourseCompleted, expected: OutcomeJudgement) -> None:
    """Raise unless the event's response, substantial response and remission are `expected`."""
    for name, value in expected._asdict().items():
        if getattr(event, name) != value:
            raise ValueError(
                f"`{name}` must be {json.dumps(value)} under the criteria {event.criteria!r} "
                f"(baseline {json.dumps(event.baseline_total)})"
            )


@registry.register
class OutcomeSuicidalityFlagRaised(IntegrationEvent, SuicidalityFinding):
    """An outcome PHQ-9 answered item 9 (thoughts of self-harm) above the policy limit: the same
    flag, needing same-day clinician follow-up, as at intake. Published as
    `carepath.integration.SuicidalityFlagRaised`."""

    event_name = "SuicidalityFlagRaised"
    clinical_time_field = "measured_at"

    patient_id: PatientId
    timepoint: OutcomeTimepoint = Field(description="When in the pathway it was answered.")


@registry.register
class BoosterIndicated(IntegrationEvent):
    """A follow-up measure of the patient's indication rose back above the policy's booster
    threshold after a measure at or below it: a clinician may add a booster session to the
    maintenance phase. Decision support: it books nothing by itself."""

    clinical_time_field = "measured_at"

    patient_id: PatientId
    instrument: OutcomeInstrument
    total: int = Field(ge=0, le=80, description="The total that rose back above the threshold.")
    previous_total: int = Field(
        ge=0, le=80, description="The measure before it, at or below the threshold."
    )
    booster_above: int = Field(ge=0, le=80, description="Policy: the booster threshold.")
    measured_at: ChartedTimeAsRecorded = Field(description="When the follow-up measure was taken.")
    policy_version: PolicyVersion


@registry.register
class CourseDiscontinued(IntegrationEvent):
    """The patient's course ended before completion."""

    version = 2  # v2: its identifying and free-text fields sealed

    clinical_time_field = "discontinued_at"

    patient_id: PatientId
    course_id: UUID = Field(description="Id of the course.")
    discontinued_at: ChartedTimeAsRecorded
    reason: DiscontinuationReason = Field(description="Why the course ended early.")
    details: str | None = Field(
        json_schema_extra=FREE_TEXT,
        default=None,
        max_length=4000,
        description="What led to the decision (PHI).",
    )
