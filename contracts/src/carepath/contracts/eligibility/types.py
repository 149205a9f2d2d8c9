"""Value types of the eligibility context: outcomes, rule kinds, review decisions, indications,
and the rule findings with the intake evidence they fired on."""

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from carepath.contracts.common import Rationale, ValueObject


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
