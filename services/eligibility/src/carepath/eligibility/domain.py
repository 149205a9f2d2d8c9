"""The screening decider: one patient's eligibility screening as pure `decide` and `evolve`.

Screening starts when intake completes and decides at once by the clinic policy; a clinician may
then approve or decline (a separate event: the automatic result is never edited); consent
withdrawn upstream closes an open screening.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from carepath.chassis.charting import charted
from carepath.chassis.decider import Decider
from carepath.chassis.errors import InvalidField, NotFound, RuleViolation
from carepath.contracts import DomainEvent
from carepath.contracts.eligibility import (
    EligibilityDetermined,
    EligibilityOutcome,
    EligibilityReviewed,
    Evidence,
    ReviewDecision,
    RuleFinding,
    RuleKind,
    ScreeningClosed,
    ScreeningClosureReason,
    ScreeningStarted,
)
from carepath.contracts.intake import IntakeCompleted
from carepath.eligibility.clinic_policy import EligibilityPolicy, Rule

NO_INDICATION_RULE = "no_indication"


@dataclass(frozen=True)
class StartScreening:
    """Intake completed: screen the patient."""

    intake: IntakeCompleted
    intake_event_id: UUID


@dataclass(frozen=True)
class ReviewScreening:
    """A clinician's decision on the automatic result (`determination_event_id` names it)."""

    decision: ReviewDecision
    rationale: str
    determination_event_id: UUID
    now: datetime
    reviewed_at: datetime | None = None


@dataclass(frozen=True)
class CloseScreening:
    """Consent was withdrawn upstream."""

    patient_id: UUID


ScreeningCommand = StartScreening | ReviewScreening | CloseScreening


class ScreeningStatus(StrEnum):
    NOT_STARTED = "not_started"
    DETERMINED = "determined"
    REVIEWED = "reviewed"
    CLOSED = "closed"


@dataclass(frozen=True)
class ScreeningState:
    """What eligibility knows about one patient."""

    started: ScreeningStarted | None = None
    determination: EligibilityDetermined | None = None
    review: EligibilityReviewed | None = None
    closed: ScreeningClosed | None = None

    @property
    def status(self) -> ScreeningStatus:
        if self.closed:
            return ScreeningStatus.CLOSED
        if self.review:
            return ScreeningStatus.REVIEWED
        return ScreeningStatus.DETERMINED if self.determination else ScreeningStatus.NOT_STARTED


def stream_id(patient_id: UUID) -> str:
    """The event stream of a patient's screening."""
    return f"eligibility-{patient_id}"


def screening_decider(policy: EligibilityPolicy) -> Decider[ScreeningState, ScreeningCommand]:
    """The screening decider under a clinic policy."""

    def decide(state: ScreeningState, command: ScreeningCommand) -> Sequence[DomainEvent]:
        match command:
            case StartScreening():
                return start_screening(state, command, policy)
            case ReviewScreening():
                return review_screening(state, command, policy)
            case CloseScreening():
                return close_screening(state, command)
        raise TypeError(f"eligibility cannot handle {type(command).__name__}")

    return Decider(decide=decide, evolve=evolve, initial_state=ScreeningState())


def start_screening(
    state: ScreeningState, command: StartScreening, policy: EligibilityPolicy
) -> list[DomainEvent]:
    if state.started is not None and not is_new_consent(state, command.intake):
        return []  # a second delivery, or intake completed again with nothing new to screen
    patient_id, completed_at = command.intake.patient_id, command.intake.completed_at
    return [
        ScreeningStarted(
            patient_id=patient_id,
            intake_completed_event_id=command.intake_event_id,
            occurred_at=completed_at,
        ),
        determine_eligibility(command.intake, policy),
    ]


def is_new_consent(state: ScreeningState, intake: IntakeCompleted) -> bool:
    """Intake completed again on new consent after the screening was closed for a withdrawal:
    the way back, through a new screening."""
    if state.closed is None:
        return False
    before = state.determination.consent_given_at if state.determination else None
    return before is None or intake.consent_given_at > before


def determine_eligibility(
    intake: IntakeCompleted, policy: EligibilityPolicy
) -> EligibilityDetermined:
    """Apply every rule of the policy: hard stop -> ineligible; no indication -> ineligible;
    any relative contraindication -> needs review; otherwise eligible."""
    data = intake.model_dump(mode="json")
    fired = [
        _finding(rule, evidence)
        for rule in policy.rules
        if (evidence := _fires(rule, data)) is not None
    ]
    kinds = {finding.kind for finding in fired}
    indication = next(
        (r.indication for r in policy.rules_of(RuleKind.INDICATION) if _fires(r, data) is not None),
        None,
    )
    if indication is None:
        fired.append(_no_indication(data, policy))
    if RuleKind.HARD_STOP in kinds or indication is None:
        outcome = EligibilityOutcome.INELIGIBLE
    elif RuleKind.RELATIVE_CONTRAINDICATION in kinds:
        outcome = EligibilityOutcome.NEEDS_REVIEW
    else:
        outcome = EligibilityOutcome.ELIGIBLE
    return EligibilityDetermined(
        patient_id=intake.patient_id,
        outcome=outcome,
        findings=fired,
        indication=indication,
        policy_version=policy.version,
        consent_given_at=intake.consent_given_at,
        occurred_at=intake.completed_at,  # the automatic screen runs as intake completes
    )


def review_screening(
    state: ScreeningState, command: ReviewScreening, policy: EligibilityPolicy
) -> list[DomainEvent]:
    determination = state.determination
    if determination is None:
        raise NotFound("no screening result to review: intake is not complete yet")
    if state.closed is not None:
        raise RuleViolation(
            f"the screening was closed ({state.closed.reason.value}); it can no longer be reviewed"
        )
    if state.review is not None:
        raise RuleViolation(f"the screening was already reviewed ({state.review.decision.value})")
    reviewed_at = charted(command.reviewed_at, command.now, "reviewed_at")
    if determination.occurred_at and reviewed_at < determination.occurred_at:
        raise InvalidField(
            "reviewed_at",
            f"must not be before the screening result ({determination.occurred_at.isoformat()})",
        )
    hard_stops = [f.rule_id for f in determination.findings if f.kind is RuleKind.HARD_STOP]
    if command.decision is ReviewDecision.APPROVE and hard_stops:
        raise RuleViolation(
            f"a hard stop cannot be approved: {', '.join(hard_stops)} (label contraindication)"
        )
    no_indication = any(f.kind is RuleKind.NO_INDICATION for f in determination.findings)
    if command.decision is ReviewDecision.APPROVE and no_indication:
        if not policy.approve_without_indication:
            raise RuleViolation(
                "no indication for KAP was found: the clinic policy does not allow approving it "
                "(approve_without_indication); decline, or correct intake for a new screening"
            )
    return [
        EligibilityReviewed(
            patient_id=determination.patient_id,
            decision=command.decision,
            rationale=command.rationale,
            automatic_outcome=determination.outcome,
            reviewed_determination_event_id=command.determination_event_id,
            consent_given_at=determination.consent_given_at,
            occurred_at=reviewed_at,
        )
    ]


def close_screening(state: ScreeningState, command: CloseScreening) -> list[DomainEvent]:
    if state.started is None or state.closed is not None:
        return []  # nothing open to close
    return [
        ScreeningClosed(
            patient_id=command.patient_id, reason=ScreeningClosureReason.CONSENT_WITHDRAWN
        )
    ]


def evolve(state: ScreeningState, event: DomainEvent) -> ScreeningState:
    """The state after one event."""
    match event:
        case ScreeningStarted():
            return ScreeningState(started=event)  # a new screening starts afresh
        case EligibilityDetermined():
            return replace(state, determination=event)
        case EligibilityReviewed():
            return replace(state, review=event)
        case ScreeningClosed():
            return replace(state, closed=event)
    return state


def _fires(rule: Rule, data: dict[str, Any]) -> list[Evidence] | None:
    holds, evidence = rule.when.evaluate(data)
    return evidence if holds else None


def _finding(rule: Rule, evidence: list[Evidence]) -> RuleFinding:
    return RuleFinding(
        rule_id=rule.id, kind=rule.kind, description=rule.description, evidence=evidence
    )


def _no_indication(data: dict[str, Any], policy: EligibilityPolicy) -> RuleFinding:
    # The evidence: the referral reason, and what the indication rules for it looked at.
    looked_at = [
        evidence
        for rule in policy.rules_of(RuleKind.INDICATION)
        if _applies_to_reason(rule, data)
        for evidence in rule.when.evaluate(data)[1]
        if evidence.field != "referral_reason"
    ]
    return RuleFinding(
        rule_id=NO_INDICATION_RULE,
        kind=RuleKind.NO_INDICATION,
        description="No indication for KAP under the clinic policy",
        evidence=[Evidence(field="referral_reason", value=data.get("referral_reason")), *looked_at],
    )


def _applies_to_reason(rule: Rule, data: dict[str, Any]) -> bool:
    conditions = getattr(rule.when, "all", [rule.when])
    return any(
        getattr(c, "field", None) == "referral_reason" and c.evaluate(data)[0] for c in conditions
    )
