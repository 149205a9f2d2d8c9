"""Commands and events of the eligibility context (`carepath.eligibility.events`).

Screening applies the clinic policy to a completed intake: label contraindications are hard stops,
warnings are flags for clinician review, and an indication is required. The automatic result and
a clinician's review of it are separate events; a review never rewrites the determination.
"""

from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import Field, model_validator

from carepath.contracts.common import (
    ChartedTime,
    ContractModel,
    PolicyVersion,
    Rationale,
    ValueObject,
)
from carepath.contracts.events import DomainEvent, registry


class EligibilityOutcome(StrEnum):
    """The automatic result of screening."""

    ELIGIBLE = "eligible"
    NEEDS_REVIEW = "needs_review"
    INELIGIBLE = "ineligible"


class RuleKind(StrEnum):
    """What a fired screening rule means for the outcome.

    `hard_stop` (a label contraindication) and `no_indication` make the patient ineligible;
    `relative_contraindication` needs clinician review; `indication` is the reason to treat.
    """

    HARD_STOP = "hard_stop"
    RELATIVE_CONTRAINDICATION = "relative_contraindication"
    INDICATION = "indication"
    NO_INDICATION = "no_indication"


class ReviewDecision(StrEnum):
    """A clinician's decision on a screening result."""

    APPROVE = "approve"
    DECLINE = "decline"


class Indication(StrEnum):
    """The indication that makes KAP a treatment option for the patient."""

    TREATMENT_RESISTANT_DEPRESSION = "treatment_resistant_depression"
    PTSD = "ptsd"
    ANXIETY = "anxiety"
    CHRONIC_PAIN = "chronic_pain"


class ScreeningClosureReason(StrEnum):
    """Why a screening was closed without going further."""

    CONSENT_WITHDRAWN = "consent_withdrawn"


ReviewRationale = Annotated[
    Rationale, Field(description="The clinician's written rationale for the decision (PHI).")
]

EvidenceValue = str | int | float | bool | None
"""A value seen in the intake data; `None` when it was not recorded."""

DottedPath = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
]


class Evidence(ValueObject):
    """One piece of intake data a rule looked at, and the threshold it was compared with."""

    field: DottedPath = Field(
        description="Dotted path of the intake data used, in the `IntakeCompleted` event, e.g. "
        "`medical_history.psychosis_history`, `resting_systolic_mmhg` or `pcl5_total`.",
        examples=["medical_history.intracerebral_haemorrhage"],
    )
    value: EvidenceValue = Field(
        description="The value found at `field` (PHI); `null` when it was not recorded."
    )
    threshold: str | int | float | None = Field(
        default=None,
        description="The policy threshold the value was compared with, e.g. `33` or `140/90`.",
    )
    unit: str | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="Unit of `value` and `threshold`, e.g. `mmHg`, `months`, `points`.",
    )


class RuleFinding(ValueObject):
    """A screening rule that fired, with the evidence it fired on."""

    rule_id: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$",
        description="Stable id of the rule, `<kind>.<rule>` by convention.",
        examples=["hard_stop.intracerebral_haemorrhage", "relative_contraindication.psychosis"],
    )
    kind: RuleKind = Field(description="What the finding means for the outcome.")
    description: str = Field(
        min_length=1,
        max_length=500,
        description="Human-readable statement of the rule, e.g. `History of intracerebral "
        "haemorrhage (label contraindication)`.",
    )
    evidence: list[Evidence] = Field(
        min_length=1, max_length=50, description="The intake data the rule fired on."
    )


class ReviewScreening(ContractModel):
    """Command: a clinician approves or declines the patient after reading the screening result."""

    decision: ReviewDecision = Field(description="Approve the patient for a course, or decline.")
    rationale: ReviewRationale
    reviewed_at: ChartedTime | None = Field(
        default=None, description="When the clinician decided; default now."
    )


class EligibilityEvent(DomainEvent):
    """Base of the eligibility context's events."""

    context = "eligibility"


@registry.register
class ScreeningStarted(EligibilityEvent):
    """Screening began for a patient whose intake is complete."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    intake_completed_event_id: UUID = Field(
        description="Event id of the `IntakeCompleted` that triggered the screening."
    )


@registry.register
class EligibilityDetermined(EligibilityEvent):
    """The clinic policy was applied to the intake: the automatic outcome and the rules that fired.

    The outcome agrees with the findings: any hard stop or a missing indication makes the patient
    ineligible; otherwise any relative contraindication needs review; otherwise eligible.
    """

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    outcome: EligibilityOutcome = Field(description="The automatic result of screening.")
    findings: list[RuleFinding] = Field(
        min_length=1, max_length=100, description="Every rule that fired, with its evidence."
    )
    indication: Indication | None = Field(
        default=None, description="The indication found; `null` when none was."
    )
    policy_version: PolicyVersion

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

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    decision: ReviewDecision = Field(description="The clinician's decision.")
    rationale: ReviewRationale
    automatic_outcome: EligibilityOutcome = Field(
        description="The automatic outcome the clinician reviewed."
    )
    reviewed_determination_event_id: UUID = Field(
        description="Event id of the `EligibilityDetermined` that was reviewed."
    )


@registry.register
class ScreeningClosed(EligibilityEvent):
    """Screening was closed without a further decision."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
    reason: ScreeningClosureReason = Field(description="Why the screening was closed.")
