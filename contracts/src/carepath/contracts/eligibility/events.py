"""Events of the eligibility context (`carepath.eligibility.events`), current versions.
Superseded versions and their upcasters go in `versions`.

Screening applies the clinic policy to a completed intake: label contraindications are hard stops,
warnings are flags for clinician review, and an indication is required. The automatic result and
a clinician's review of it are separate events; a review never rewrites the determination.
"""

from typing import Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from carepath.contracts.common import PatientId, PolicyVersion
from carepath.contracts.eligibility.types import (
    EligibilityOutcome,
    Indication,
    ReviewDecision,
    ReviewRationale,
    RuleFinding,
    RuleKind,
    ScreeningClosureReason,
)
from carepath.contracts.events import DomainEvent, registry
from carepath.contracts.privacy import FREE_TEXT


class EligibilityEvent(DomainEvent):
    """Base of the eligibility context's events."""

    context = "eligibility"


@registry.register
class ScreeningStarted(EligibilityEvent):
    """Screening began for a patient whose intake is complete."""

    patient_id: PatientId
    intake_completed_event_id: UUID = Field(
        description="Event id of the `IntakeCompleted` that triggered the screening."
    )


@registry.register
class EligibilityDetermined(EligibilityEvent):
    """The clinic policy was applied to the intake: the automatic outcome and the rules that fired.

    The outcome agrees with the findings: any hard stop or a missing indication makes the patient
    ineligible; otherwise any relative contraindication needs review; otherwise eligible.
    """

    patient_id: PatientId
    outcome: EligibilityOutcome = Field(description="The automatic result of screening.")
    findings: list[RuleFinding] = Field(
        min_length=1, max_length=100, description="Every rule that fired, with its evidence."
    )
    indication: Indication | None = Field(
        default=None, description="The indication found; `null` when none was."
    )
    policy_version: PolicyVersion
    consent_given_at: AwareDatetime | None = Field(
        default=None,
        description="When the consent this screening relied on was given (intake's "
        "`consent_given_at`): a screening after new consent, following a withdrawal, names the "
        "new consent. Absent in events recorded before 2026-11.",
    )

    @model_validator(mode="after")
    def _outcome_agrees_with_findings(self) -> Self:
        kinds = {finding.kind for finding in self.findings}
        blocking = {RuleKind.HARD_STOP, RuleKind.NO_INDICATION} & kinds
        if RuleKind.NO_INDICATION in kinds and self.indication is not None:
            raise ValueError("`indication` must be null when `findings` has a no_indication rule")
        if self.indication is not None and RuleKind.INDICATION not in kinds:
            raise ValueError("`indication` is set, so `findings` needs an indication rule")
        if self.outcome is EligibilityOutcome.INELIGIBLE:
            if not blocking:
                raise ValueError(
                    "outcome ineligible needs a hard_stop or no_indication rule in `findings`"
                )
            return self
        if blocking:
            raise ValueError(
                f"outcome {self.outcome.value} is not allowed with a "
                f"{' or '.join(sorted(blocking))} rule in `findings`; the outcome is ineligible"
            )
        if self.indication is None:
            raise ValueError(f"outcome {self.outcome.value} needs an `indication`")
        has_relative = RuleKind.RELATIVE_CONTRAINDICATION in kinds
        if self.outcome is EligibilityOutcome.NEEDS_REVIEW and not has_relative:
            raise ValueError(
                "outcome needs_review needs a relative_contraindication rule in `findings`"
            )
        if self.outcome is EligibilityOutcome.ELIGIBLE and has_relative:
            raise ValueError(
                "outcome eligible is not allowed with a relative_contraindication rule in "
                "`findings`; the outcome is needs_review"
            )
        return self


@registry.register
class EligibilityReviewed(EligibilityEvent):
    """A clinician approved or declined the patient; the automatic determination stands as is."""

    version = 2  # v2: its identifying and free-text fields sealed

    patient_id: PatientId
    decision: ReviewDecision = Field(description="The clinician's decision.")
    rationale: ReviewRationale = Field(json_schema_extra=FREE_TEXT)
    automatic_outcome: EligibilityOutcome = Field(
        description="The automatic outcome the clinician reviewed."
    )
    reviewed_determination_event_id: UUID = Field(
        description="Event id of the `EligibilityDetermined` that was reviewed."
    )
    consent_given_at: AwareDatetime | None = Field(
        default=None,
        description="When the consent this screening relied on was given (intake's "
        "`consent_given_at`): a screening after new consent, following a withdrawal, names the "
        "new consent. Absent in events recorded before 2026-11.",
    )


@registry.register
class ScreeningClosed(EligibilityEvent):
    """Screening was closed without a further decision."""

    patient_id: PatientId
    reason: ScreeningClosureReason = Field(description="Why the screening was closed.")
