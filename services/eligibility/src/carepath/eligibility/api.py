"""Eligibility's HTTP API: read a screening; a clinician's review."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel

from carepath.chassis.auth import Role
from carepath.chassis.errors import NotFound
from carepath.chassis.http import RequestContext, context_for
from carepath.chassis.service import service_of
from carepath.contracts.access import DataCategory
from carepath.contracts.eligibility import (
    EligibilityOutcome,
    Indication,
    ReviewDecision,
    ReviewScreening,
    RuleFinding,
    ScreeningClosureReason,
)
from carepath.eligibility.domain import ReviewScreening as Review
from carepath.eligibility.domain import ScreeningState, ScreeningStatus
from carepath.eligibility.service import Eligibility

router = APIRouter(tags=["eligibility"], responses={401: {}, 403: {}, 404: {}})

MAY_READ = (Role.CLINICIAN, Role.INTAKE_COORDINATOR, Role.AUDITOR)


Service = Annotated[Eligibility, Depends(service_of(Eligibility))]
Reader = Annotated[RequestContext, Depends(context_for(*MAY_READ))]
Clinician = Annotated[RequestContext, Depends(context_for(Role.CLINICIAN))]


class ReviewView(BaseModel):
    decision: ReviewDecision
    rationale: str


class Screening(BaseModel):
    """A patient's screening: the automatic result with its reasons, and any review."""

    patient_id: UUID
    status: ScreeningStatus
    outcome: EligibilityOutcome | None
    indication: Indication | None
    findings: list[RuleFinding]
    policy_version: str | None
    review: ReviewView | None
    closed_reason: ScreeningClosureReason | None

    @classmethod
    def of(cls, patient_id: UUID, state: ScreeningState) -> "Screening":
        determined, review = state.determination, state.review
        return cls(
            patient_id=patient_id,
            status=state.status,
            outcome=determined.outcome if determined else None,
            indication=determined.indication if determined else None,
            findings=determined.findings if determined else [],
            policy_version=determined.policy_version if determined else None,
            review=ReviewView(decision=review.decision, rationale=review.rationale)
            if review
            else None,
            closed_reason=state.closed.reason if state.closed else None,
        )


@router.get("/screenings/{patient_id}")
async def read_screening(
    patient_id: UUID, request: Request, context: Reader, service: Service
) -> Screening:
    """The screening: outcome, the rules that fired with their evidence, the policy version."""
    state, _ = await service.screening(patient_id)
    await service.runtime.record_read(request, context, patient_id, [DataCategory.ELIGIBILITY])
    return Screening.of(patient_id, state)


@router.post(
    "/screenings/{patient_id}/reviews", status_code=status.HTTP_201_CREATED, responses={409: {}}
)
async def review_screening(
    patient_id: UUID, review: ReviewScreening, context: Clinician, service: Service
) -> Screening:
    """A clinician approves or declines, with a written rationale. The automatic result stays as
    it was; approving a hard stop is refused (409)."""
    _, determination_id = await service.screening(patient_id)
    if determination_id is None:
        raise NotFound(f"no screening result for patient {patient_id} yet")
    command = Review(
        decision=review.decision,
        rationale=review.rationale,
        determination_event_id=determination_id,
        now=service.runtime.clock.now(),
        reviewed_at=review.reviewed_at,
    )
    decision = await service.command(patient_id, command, context)
    return Screening.of(patient_id, decision.state)
