"""The intake decider: one patient's intake record as pure `decide` and `evolve`. No I/O here.

A patient is referred, then the form, the baseline assessments and consent arrive in any order;
the command that supplies the last missing piece also completes intake (`IntakeCompleted`,
exactly once). Assessments are scored here from their item answers.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from functools import reduce
from uuid import UUID

from carepath.chassis.charting import charted, end_of_day
from carepath.chassis.decider import Decider
from carepath.chassis.errors import InvalidField, NotFound, PatientErased, RuleViolation
from carepath.contracts import DomainEvent
from carepath.contracts.common import Instrument, SuicideRisk
from carepath.contracts.intake import (
    AssessmentScored,
    ConsentGiven,
    ConsentWithdrawn,
    ErasePatientData,
    ErasureRecorded,
    GiveConsent,
    IntakeCompleted,
    IntakeFormSubmitted,
    PatientReferred,
    RecordAssessment,
    ReferPatient,
    SubmitIntakeForm,
    SuicidalityFlagRaised,
    SuicidalitySource,
    SuicideRiskScreened,
    WithdrawConsent,
)
from carepath.intake import scoring
from carepath.intake.clinic_policy import IntakePolicy

# A charted time this far ahead of the service clock is a clock difference, not the future.

Request = (
    ReferPatient
    | SubmitIntakeForm
    | RecordAssessment
    | GiveConsent
    | WithdrawConsent
    | ErasePatientData
)


@dataclass(frozen=True)
class IntakeCommand:
    """A request as the decider sees it: what was asked, and when (the service's clock)."""

    request: Request
    now: datetime


class IntakeStatus(StrEnum):
    """Where a patient is in intake."""

    NOT_REFERRED = "not_referred"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"


@dataclass(frozen=True)
class IntakeState:
    """What intake knows about one patient."""

    referral: PatientReferred | None = None
    form: IntakeFormSubmitted | None = None
    assessments: dict[Instrument, AssessmentScored] = field(default_factory=dict)
    cssrs: SuicideRiskScreened | None = None
    consent: ConsentGiven | None = None
    withdrawal: ConsentWithdrawn | None = None
    flags: tuple[SuicidalityFlagRaised, ...] = ()
    completed: IntakeCompleted | None = None
    erasure: ErasureRecorded | None = None

    @property
    def status(self) -> IntakeStatus:
        if self.referral is None:
            return IntakeStatus.NOT_REFERRED
        return IntakeStatus.COMPLETE if self.completed else IntakeStatus.IN_PROGRESS

    def missing(self, policy: IntakePolicy) -> list[str]:
        """What intake still needs before it is complete, in words staff use."""
        if self.referral is None:
            return ["referral"]
        needed = []
        if self.form is None:
            needed.append("intake form")
        for instrument in sorted(policy.baseline_for(self.referral.referral_reason)):
            taken = (
                self.cssrs if instrument is Instrument.CSSRS else self.assessments.get(instrument)
            )
            if taken is None:
                needed.append(f"{instrument.value} assessment")
        if self.consent is None:
            needed.append("consent")
        return needed


def stream_id(patient_id: UUID) -> str:
    """The event stream of a patient's intake record."""
    return f"intake-{patient_id}"


def intake_decider(policy: IntakePolicy) -> Decider[IntakeState, IntakeCommand]:
    """The intake decider under a clinic policy."""

    def decide(state: IntakeState, command: IntakeCommand) -> Sequence[DomainEvent]:
        events = _decide(state, command.request, command.now, policy)
        after = reduce(evolve, events, state)
        # New consent after a withdrawal completes intake again: the way back is a new screening.
        consented_again = state.withdrawal is not None and after.consent is not None
        if after.erasure is None and (after.completed is None or consented_again):
            if after.referral is not None and not after.missing(policy):
                events = [*events, _intake_completed(after, command.now, policy)]
        return events

    return Decider(decide=decide, evolve=evolve, initial_state=IntakeState())


def _decide(
    state: IntakeState, request: Request, now: datetime, policy: IntakePolicy
) -> list[DomainEvent]:
    if isinstance(request, ReferPatient):
        return refer_patient(state, request, now)
    if state.referral is None:
        raise NotFound("no such patient: refer the patient first (POST /patients)")
    if state.erasure is not None:
        raise PatientErased(
            f"patient {state.referral.patient_id}'s data was erased "
            f"({state.erasure.erased_at.isoformat()}): nothing more is recorded about them"
        )
    match request:
        case SubmitIntakeForm():
            return submit_form(state, request, now)
        case RecordAssessment():
            return record_assessment(state, request, now, policy)
        case GiveConsent():
            return give_consent(state, request, now)
        case WithdrawConsent():
            return withdraw_consent(state, request, now)
        case ErasePatientData():
            return [
                ErasureRecorded(
                    patient_id=state.referral.patient_id,
                    erased_at=now,
                    ground=request.ground,
                    request_reference=request.request_reference,
                )
            ]
    raise TypeError(f"intake cannot handle {type(request).__name__}")


def refer_patient(state: IntakeState, request: ReferPatient, now: datetime) -> list[DomainEvent]:
    if state.referral is not None:
        raise RuleViolation(f"patient {request.patient_id} is already referred")
    referred_at = charted(request.referred_at, now, "referred_at")
    return [PatientReferred(**request.model_dump(exclude={"referred_at"}), occurred_at=referred_at)]


def submit_form(state: IntakeState, request: SubmitIntakeForm, now: datetime) -> list[DomainEvent]:
    assert state.referral is not None
    check_intake_is_open(state, "the intake form")
    submitted_at = charted(request.submitted_at, now, "submitted_at")
    return [
        IntakeFormSubmitted(
            patient_id=state.referral.patient_id,
            **request.model_dump(exclude={"submitted_at"}),
            occurred_at=submitted_at,
        )
    ]


def record_assessment(
    state: IntakeState, request: RecordAssessment, now: datetime, policy: IntakePolicy
) -> list[DomainEvent]:
    assert state.referral is not None
    check_intake_is_open(state, f"a {request.instrument.value} assessment")
    # in the clinic's time zone (the service's clock reads it): a flag is due the same day there
    at = charted(request.administered_at, now, "administered_at").astimezone(now.tzinfo)
    patient_id = state.referral.patient_id
    if request.instrument is Instrument.CSSRS:
        answers = scoring.cssrs_answers(request.answers)
        risk = scoring.cssrs_risk(answers)
        screened = SuicideRiskScreened(
            patient_id=patient_id,
            answers=answers,
            risk=risk,
            administered_at=at,
            policy_version=policy.version,
        )
        if risk is not SuicideRisk.HIGH:
            return [screened]
        detail = "C-SSRS screener: high risk"
        return [
            screened,
            _flag(
                patient_id, SuicidalitySource.CSSRS_HIGH_RISK, Instrument.CSSRS, detail, at, policy
            ),
        ]
    items = [int(answer or 0) for answer in request.answers]
    total = sum(items)
    is_pcl5 = request.instrument is Instrument.PCL5
    scored = AssessmentScored(
        patient_id=patient_id,
        instrument=request.instrument,
        item_scores=items,
        total=total,
        band=scoring.band(request.instrument, total),
        pcl5_clusters=scoring.pcl5_clusters(items) if is_pcl5 else None,
        provisional_ptsd=total >= policy.pcl5_provisional_threshold if is_pcl5 else None,
        pcl5_threshold=policy.pcl5_provisional_threshold if is_pcl5 else None,
        administered_at=at,
        policy_version=policy.version,
    )
    if request.instrument is Instrument.PHQ9 and items[8] > policy.phq9_item9_flag_above:
        detail = f"PHQ-9 item 9 = {items[8]}"
        return [
            scored,
            _flag(patient_id, SuicidalitySource.PHQ9_ITEM_9, Instrument.PHQ9, detail, at, policy),
        ]
    return [scored]


def give_consent(state: IntakeState, request: GiveConsent, now: datetime) -> list[DomainEvent]:
    assert state.referral is not None
    if state.consent is not None:
        raise RuleViolation(
            f"consent is already given (version {state.consent.consent_version}, "
            f"{state.consent.given_at.isoformat()}); withdraw it before recording a new one"
        )
    given_at = charted(request.given_at, now, "given_at")
    if state.withdrawal is not None and given_at <= state.withdrawal.withdrawn_at:
        withdrawn = state.withdrawal.withdrawn_at.isoformat()
        raise InvalidField("given_at", f"must be after the withdrawal of consent ({withdrawn})")
    return [
        ConsentGiven(
            patient_id=state.referral.patient_id,
            consent_version=request.consent_version,
            consent_text_sha256=request.consent_text_sha256,
            given_at=given_at,
        )
    ]


def withdraw_consent(
    state: IntakeState, request: WithdrawConsent, now: datetime
) -> list[DomainEvent]:
    assert state.referral is not None
    if state.consent is None:
        if state.withdrawal is not None:
            raise RuleViolation(
                f"consent was already withdrawn ({state.withdrawal.withdrawn_at.isoformat()})"
            )
        raise RuleViolation("there is no consent to withdraw")
    withdrawn_at = charted(request.withdrawn_at, now, "withdrawn_at")
    return [
        ConsentWithdrawn(
            patient_id=state.referral.patient_id, withdrawn_at=withdrawn_at, reason=request.reason
        )
    ]


def check_intake_is_open(state: IntakeState, what: str) -> None:
    if state.completed is not None:
        completed = state.completed.completed_at.isoformat()
        raise RuleViolation(
            f"intake was completed {completed}: {what} can no longer change it; "
            "later measures are recorded with the course"
        )


def _flag(
    patient_id: UUID,
    source: SuicidalitySource,
    instrument: Instrument,
    detail: str,
    at: datetime,
    policy: IntakePolicy,
) -> SuicidalityFlagRaised:
    return SuicidalityFlagRaised(
        patient_id=patient_id,
        source=source,
        instrument=instrument,
        detail=detail,
        follow_up_due_by=end_of_day(at),  # same-day follow-up
        policy_version=policy.version,
        occurred_at=at,
    )


def _intake_completed(state: IntakeState, now: datetime, policy: IntakePolicy) -> IntakeCompleted:
    referral, form, consent, cssrs = state.referral, state.form, state.consent, state.cssrs
    assert referral and form and consent and cssrs
    phq9, gad7, pcl5, pain = (
        state.assessments.get(i)
        for i in (Instrument.PHQ9, Instrument.GAD7, Instrument.PCL5, Instrument.PAIN_NRS)
    )
    assert phq9 is not None
    # Clinically, intake is complete when its last piece was charted, not when it was typed in.
    pieces = (referral, form, consent, cssrs, *state.assessments.values())
    completed_at = max(piece.clinical_time(now) for piece in pieces)
    return IntakeCompleted(
        patient_id=referral.patient_id,
        completed_at=completed_at,
        age_years=age_on(referral.date_of_birth, completed_at.date()),
        referral_reason=referral.referral_reason,
        diagnoses=form.diagnoses,
        medical_history=form.medical_history,
        substance_use=form.substance_use,
        antidepressant_trials=form.antidepressant_trials,
        resting_systolic_mmhg=form.resting_systolic_mmhg,
        resting_diastolic_mmhg=form.resting_diastolic_mmhg,
        phq9_total=phq9.total,
        phq9_item9=phq9.item_scores[8],
        gad7_total=gad7.total if gad7 else None,
        pcl5_total=pcl5.total if pcl5 else None,
        pcl5_meets_dsm5_cluster_rule=pcl5.pcl5_clusters.meets_dsm5_cluster_rule
        if pcl5 and pcl5.pcl5_clusters
        else None,
        cssrs_risk=cssrs.risk,
        consent_version=consent.consent_version,
        consent_given_at=consent.given_at,
        pain_nrs_total=pain.total if pain else None,
        policy_version=policy.version,
    )


def age_on(born: date, day: date) -> int:
    """Whole years of age on `day`."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def evolve(state: IntakeState, event: DomainEvent) -> IntakeState:
    """The state after one event."""
    match event:
        case PatientReferred():
            return replace(state, referral=event)
        case IntakeFormSubmitted():
            return replace(state, form=event)
        case AssessmentScored():
            return replace(state, assessments={**state.assessments, event.instrument: event})
        case SuicideRiskScreened():
            return replace(state, cssrs=event)
        case SuicidalityFlagRaised():
            return replace(state, flags=(*state.flags, event))
        case ConsentGiven():
            return replace(state, consent=event, withdrawal=None)
        case ConsentWithdrawn():
            return replace(state, consent=None, withdrawal=event)
        case IntakeCompleted():
            return replace(state, completed=event)
        case ErasureRecorded():
            return replace(state, erasure=event)
    return state
