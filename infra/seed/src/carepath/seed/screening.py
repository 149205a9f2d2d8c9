"""What screening should find for a synthetic patient, and how a clinician reviews a flag."""

from datetime import datetime
from enum import StrEnum

from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision, ReviewScreening


class Finding(StrEnum):
    """What screening should find: nothing (eligible), a reason to decline, or a flag to review."""

    NONE = "none"
    ONE_FAILED_TRIAL = "one failed antidepressant trial only"
    INTRACEREBRAL_HAEMORRHAGE = "history of intracerebral haemorrhage"
    AGE_17 = "age 17"
    KETAMINE_HYPERSENSITIVITY = "ketamine hypersensitivity"
    PSYCHOSIS_HISTORY = "history of psychosis"
    SCREENING_BP_150_95 = "resting BP 150/95 at screening"
    HIGH_SUICIDE_RISK = "high risk on the C-SSRS"


INELIGIBLE_FINDINGS = (
    Finding.ONE_FAILED_TRIAL,
    Finding.INTRACEREBRAL_HAEMORRHAGE,
    Finding.AGE_17,
    Finding.KETAMINE_HYPERSENSITIVITY,
)
REVIEW_FINDINGS = (
    Finding.PSYCHOSIS_HISTORY,
    Finding.SCREENING_BP_150_95,
    Finding.HIGH_SUICIDE_RISK,
)


def expected_outcome(finding: Finding) -> EligibilityOutcome:
    """The automatic screening result the clinic policy should give for `finding`."""
    if finding in INELIGIBLE_FINDINGS:
        return EligibilityOutcome.INELIGIBLE
    if finding in REVIEW_FINDINGS:
        return EligibilityOutcome.NEEDS_REVIEW
    return EligibilityOutcome.ELIGIBLE


REVIEW_RATIONALES = {
    (Finding.PSYCHOSIS_HISTORY, ReviewDecision.APPROVE): (
        "Single brief psychotic episode 11 years ago during sleep deprivation, no recurrence and "
        "no antipsychotics since; psychiatrist agrees. Approve with close monitoring."
    ),
    (Finding.PSYCHOSIS_HISTORY, ReviewDecision.DECLINE): (
        "Schizoaffective disorder with a psychotic episode 8 months ago; ketamine may precipitate "
        "relapse. Decline; refer back to the treating psychiatrist."
    ),
    (Finding.SCREENING_BP_150_95, ReviewDecision.APPROVE): (
        "Resting BP 150/95 at screening; GP confirms it is controlled on amlodipine, home "
        "readings about 128/80. Approve; BP is checked before every dose."
    ),
    (Finding.SCREENING_BP_150_95, ReviewDecision.DECLINE): (
        "Repeat readings 162/104 on two agents. Decline for now; cardiology review first, "
        "re-refer when the blood pressure is controlled."
    ),
    (Finding.HIGH_SUICIDE_RISK, ReviewDecision.APPROVE): (
        "Intent last month without plan or behaviour; safety plan in place, weekly therapist "
        "contact, family support. Benefit outweighs risk; approve."
    ),
    (Finding.HIGH_SUICIDE_RISK, ReviewDecision.DECLINE): (
        "Current intent with recent preparatory behaviour. Decline; refer to the crisis team "
        "for a higher level of care first."
    ),
}


def review(finding: Finding, decision: ReviewDecision, reviewed_at: datetime) -> ReviewScreening:
    """A clinician's review of a flagged screening, decided at `reviewed_at`, with a rationale
    that fits the finding."""
    return ReviewScreening(
        decision=decision, rationale=REVIEW_RATIONALES[finding, decision], reviewed_at=reviewed_at
    )
