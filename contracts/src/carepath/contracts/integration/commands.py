"""Commands of the integration context: the HTTP request bodies that chart an integration
session, record an outcome measure from its item answers, and complete or discontinue a course."""

from typing import Self
from uuid import UUID

from pydantic import Field, model_validator

from carepath.contracts.common import ChartedTime, ContractModel, TherapyModality
from carepath.contracts.integration.types import (
    DiscontinuationReason,
    ItemScore,
    OutcomeInstrument,
    OutcomeTimepoint,
    PracticesAssigned,
    SessionNotes,
    Themes,
    Therapist,
    check_item_scores,
)


class RecordIntegrationSession(ContractModel):
    """Command: chart an integration session held with the patient."""

    held_at: ChartedTime
    dosing_session_id: UUID | None = Field(
        default=None, description="The dosing session this session integrates, if any."
    )
    therapist: Therapist
    modality: TherapyModality = Field(description="Psychotherapy modality of the session.")
    practices_assigned: PracticesAssigned = Field(default_factory=list)
    themes: Themes = Field(default_factory=list)
    notes: SessionNotes = None


class RecordOutcome(ContractModel):
    """Command: record an outcome measure from its item answers; the service computes the total."""

    instrument: OutcomeInstrument
    answers: list[ItemScore] = Field(
        min_length=1,
        max_length=20,
        description="Item answers in questionnaire order: PHQ9 9 items 0-3, GAD7 7 items 0-3, "
        "PCL5 20 items 0-4.",
    )
    measured_at: ChartedTime
    timepoint: OutcomeTimepoint = Field(description="When in the pathway the measure was taken.")

    @model_validator(mode="after")
    def _answers_fit_instrument(self) -> Self:
        check_item_scores(self.instrument, self.answers, "answers")
        return self


class CompleteCourse(ContractModel):
    """Command: close the patient's course as completed."""

    completed_at: ChartedTime
    summary: str | None = Field(
        default=None, max_length=4000, description="Closing summary of the course (PHI)."
    )


class DiscontinueCourse(ContractModel):
    """Command: end the patient's course before completion, with the reason."""

    discontinued_at: ChartedTime
    reason: DiscontinuationReason = Field(description="Why the course ends early.")
    details: str | None = Field(
        default=None, max_length=4000, description="What led to the decision (PHI)."
    )
