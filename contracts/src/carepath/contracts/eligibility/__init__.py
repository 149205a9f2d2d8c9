"""The eligibility context (`carepath.eligibility.events`): screening a completed intake against
the clinic policy, and a clinician's review of the result.

Split into `types`, `commands`, `events` and `versions` (see contracts/README.md),
all re-exported here: import from the package, not from its modules.
"""

from carepath.contracts.eligibility import commands, events, types, versions
from carepath.contracts.eligibility.commands import ReviewScreening
from carepath.contracts.eligibility.events import (
    EligibilityDetermined,
    EligibilityEvent,
    EligibilityReviewed,
    ScreeningClosed,
    ScreeningStarted,
)
from carepath.contracts.eligibility.types import (
    DottedPath,
    EligibilityOutcome,
    Evidence,
    EvidenceValue,
    Indication,
    ReviewDecision,
    ReviewRationale,
    RuleFinding,
    RuleKind,
    ScreeningClosureReason,
)
from carepath.contracts.eligibility.versions import (
    EligibilityReviewedV1,
)

__all__ = [
    "DottedPath",
    "EligibilityDetermined",
    "EligibilityEvent",
    "EligibilityOutcome",
    "EligibilityReviewed",
    "EligibilityReviewedV1",
    "Evidence",
    "EvidenceValue",
    "Indication",
    "ReviewDecision",
    "ReviewRationale",
    "ReviewScreening",
    "RuleFinding",
    "RuleKind",
    "ScreeningClosed",
    "ScreeningClosureReason",
    "ScreeningStarted",
    "commands",
    "events",
    "types",
    "versions",
]
