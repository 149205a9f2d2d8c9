"""Commands of the eligibility context: the HTTP request body of a clinician's review. Screening
itself is not commanded: the service starts it when intake completes."""

from pydantic import Field

from carepath.contracts.common import ChartedTime, ContractModel
from carepath.contracts.eligibility.types import ReviewDecision, ReviewRationale


class ReviewScreening(ContractModel):
    """Command: a clinician approves or declines the patient after reading the screening result."""

    decision: ReviewDecision = Field(description="Approve the patient for a course, or decline.")
    rationale: ReviewRationale
    reviewed_at: ChartedTime | None = Field(
        default=None, description="When the clinician decided; default now."
    )
