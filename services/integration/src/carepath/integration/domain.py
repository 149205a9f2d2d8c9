"""The integration decider: a patient's integration plan, outcomes and the end of the course,
as pure `decide` and `evolve`. No I/O here.

Facts from upstream that are not this context's events (the intake baseline, the course plan)
come with each command as a `PatientContext`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID

from carepath.chassis.charting import charted, end_of_day
from carepath.chassis.decider import Decider
from carepath.chassis.errors import InvalidField, NotFound, RuleViolation
from carepath.contracts import DomainEvent
from carepath.contracts.common import Instrument
from carepath.contracts.intake import ReferralReason, SuicidalitySource
from carepath.contracts.integration import (
    BoosterIndicated,
    CompleteCourse,
    CourseCompleted,
    CourseDiscontinued,
    DiscontinueCourse,
    IntegrationSessionCompleted,
    IntegrationSessionDue,
    IntegrationSessionOverdue,
    OutcomeMeasured,
    OutcomeSuicidalityFlagRaised,
    OutcomeTimepoint,
    RecordIntegrationSession,
    RecordOutcome,
    judge,
)
from carepath.contracts.session import PatientDischarged
from carepath.integration.clinic_policy import IntegrationPolicy


@dataclass(frozen=True)
class PatientContext:
    """What upstream told us about the patient: intake baselines and the course plan."""

    patient_id: UUID
    baselines: dict[Instrument, int] = field(default_factory=dict)
    course_id: UUID | None = None
    planned_dosing_sessions: int | None = None
    referral_reason: ReferralReason | None = None


@dataclass(frozen=True)
class MakeIntegrationDue:
    """A dosing session ended with a discharge."""

    discharged: PatientDischarged


@dataclass(frozen=True)
class FlagOverdue:
    """Look for integration sessions past their due time. `recorded_at` says when each due
    (by dosing session id) was recorded: a discharge charted late gives staff the policy's grace
    to chart the integration session that already took place before it is called overdue."""

    now: datetime
    recorded_at: Mapping[UUID, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class StaffCommand:
    request: RecordIntegrationSession | RecordOutcome | CompleteCourse | DiscontinueCourse
    now: datetime
    context: PatientContext
    new_id: UUID | None = None


PlanCommand = MakeIntegrationDue | FlagOverdue | StaffCommand


@dataclass(frozen=True)
class PlanState:
    """One patient's integration plan and outcomes."""

    patient_id: UUID | None = None
    due: dict[UUID, IntegrationSessionDue] = field(default_factory=dict)
    overdue: frozenset[UUID] = frozenset()
    sessions: tuple[IntegrationSessionCompleted, ...] = ()
    outcomes: tuple[OutcomeMeasured, ...] = ()
    completed: CourseCompleted | None = None
    discontinued: CourseDiscontinued | None = None

    def integrated(self, dosing_session_id: UUID) -> bool:
        return any(s.dosing_session_id == dosing_session_id for s in self.sessions)

    def open_due(self) -> list[IntegrationSessionDue]:
        """Due integration sessions not held yet and not of a course that has ended since,
        oldest first."""
        ended = self.ended_at
        waiting = [
            d
            for d in self.due.values()
            if not self.integrated(d.dosing_session_id)
            and (ended is None or d.discharged_at > ended)
        ]
        return sorted(waiting, key=lambda d: d.due_by)

    @property
    def ended_at(self) -> datetime | None:
        """When the latest course ended, completed or discontinued."""
        ends = []
        if self.completed is not None:
            ends.append(self.completed.completed_at)
        if self.discontinued is not None:
            ends.append(self.discontinued.discontinued_at)
        return max(ends, default=None)

    @property
    def discharges_in_course(self) -> int:
        """Dosing sessions discharged since the last course ended: the open course's (a course
        after new consent starts counting afresh)."""
        ended = self.ended_at
        return sum(1 for d in self.due.values() if ended is None or d.discharged_at > ended)

    @property
    def last_discharge(self) -> datetime | None:
        return max((d.discharged_at for d in self.due.values()), default=None)


def stream_id(patient_id: UUID) -> str:
    """The event stream of a patient's integration plan."""
    return f"integration-{patient_id}"


def plan_decider(policy: IntegrationPolicy) -> Decider[PlanState, PlanCommand]:
    """The integration decider under a clinic policy."""

    def decide(state: PlanState, command: PlanCommand) -> Sequence[DomainEvent]:
        match command:
            case MakeIntegrationDue():
                return make_due(state, command.discharged, policy)
            case FlagOverdue():
                return flag_overdue(state, command, policy)
            case StaffCommand(request=RecordIntegrationSession() as request):
                return record_session(state, request, command)
            case StaffCommand(request=RecordOutcome() as request):
                return record_outcome(state, request, command, policy)
            case StaffCommand(request=CompleteCourse() as request):
                return complete_course(state, request, command, policy)
            case StaffCommand(request=DiscontinueCourse() as request):
                return discontinue_course(state, request, command)
        raise TypeError(f"integration cannot handle {type(command).__name__}")

    return Decider(decide=decide, evolve=evolve, initial_state=PlanState())


def make_due(
    state: PlanState, discharged: PatientDischarged, policy: IntegrationPolicy
) -> list[DomainEvent]:
    if discharged.session_id in state.due:
        return []
    window = policy.integration_window_hours
    return [
        IntegrationSessionDue(
            patient_id=discharged.patient_id,
            dosing_session_id=discharged.session_id,
            discharged_at=discharged.discharged_at,
            due_by=discharged.discharged_at + timedelta(hours=window),
            window_hours=window,
            policy_version=policy.version,
        )
    ]


def flag_overdue(
    state: PlanState, command: FlagOverdue, policy: IntegrationPolicy
) -> list[DomainEvent]:
    now, grace = command.now, timedelta(minutes=policy.late_charting_grace_minutes)

    def overdue(due: IntegrationSessionDue) -> bool:
        known_since = command.recorded_at.get(due.dosing_session_id)
        if known_since is None:  # not said when it was recorded: no grace
            return due.due_by < now
        return max(due.due_by, known_since + grace) < now

    return [
        IntegrationSessionOverdue(
            patient_id=due.patient_id,
            dosing_session_id=due.dosing_session_id,
            due_by=due.due_by,
            detected_at=now,
        )
        for due in state.open_due()
        if overdue(due) and due.dosing_session_id not in state.overdue
    ]


def record_session(
    state: PlanState, request: RecordIntegrationSession, command: StaffCommand
) -> list[DomainEvent]:
    assert command.new_id is not None
    held_at = charted(request.held_at, command.now, "held_at")
    dosing_session_id = request.dosing_session_id
    if dosing_session_id is None and (waiting := state.open_due()):
        dosing_session_id = waiting[0].dosing_session_id  # the oldest one waiting
    if dosing_session_id is not None:
        due = state.due.get(dosing_session_id)
        if due is None:
            raise RuleViolation(f"dosing session {dosing_session_id} has no discharge to integrate")
        if held_at < due.discharged_at:
            raise InvalidField(
                "held_at", "is before the discharge of the dosing session it integrates"
            )
    return [
        IntegrationSessionCompleted(
            patient_id=command.context.patient_id,
            integration_session_id=command.new_id,
            dosing_session_id=dosing_session_id,
            held_at=held_at,
            therapist=request.therapist,
            modality=request.modality,
            practices_assigned=request.practices_assigned,
            themes=request.themes,
            notes=request.notes,
        )
    ]


def record_outcome(
    state: PlanState, request: RecordOutcome, command: StaffCommand, policy: IntegrationPolicy
) -> list[DomainEvent]:
    total, instrument = sum(request.answers), request.instrument
    baseline = baseline_of(state, command.context, instrument)
    criteria = policy.criteria_for(instrument)
    judged = judge(criteria, baseline, total)
    measured_at = charted(request.measured_at, command.now, "measured_at")
    measured = OutcomeMeasured(
        patient_id=command.context.patient_id,
        instrument=instrument,
        item_scores=request.answers,
        total=total,
        measured_at=measured_at,
        timepoint=request.timepoint,
        baseline_total=baseline,
        change_from_baseline_points=None if baseline is None else total - baseline,
        change_from_baseline_percent=round((total - baseline) / baseline * 100, 1)
        if baseline
        else None,
        response=judged.response,
        substantial_response=judged.substantial_response,
        remission=judged.remission,
        criteria=criteria,
        policy_version=policy.version,
    )
    booster = booster_indication(state, command.context, measured, policy)
    return [measured, *suicidality_flag(measured, policy), *booster]


def booster_indication(
    state: PlanState, context: PatientContext, measured: OutcomeMeasured, policy: IntegrationPolicy
) -> list[DomainEvent]:
    """`BoosterIndicated` when a follow-up measure of the patient's indication rises back above
    the policy's threshold, after the measure before it was at or below it."""
    above = measured.criteria.booster_above
    if above is None or measured.timepoint is not OutcomeTimepoint.FOLLOW_UP:
        return []
    if measured.instrument is not indication_instrument(context, policy):
        return []
    before = [
        o
        for o in state.outcomes
        if o.instrument is measured.instrument
        and o.timepoint is not OutcomeTimepoint.BASELINE
        and o.measured_at < measured.measured_at
    ]
    last = max(before, key=lambda o: o.measured_at, default=None)
    if last is None or last.total > above or measured.total <= above:
        return []
    return [
        BoosterIndicated(
            patient_id=measured.patient_id,
            instrument=measured.instrument,
            total=measured.total,
            previous_total=last.total,
            booster_above=above,
            measured_at=measured.measured_at,
            policy_version=policy.version,
        )
    ]


def suicidality_flag(measured: OutcomeMeasured, policy: IntegrationPolicy) -> list[DomainEvent]:
    """The same-day suicidality flag when an outcome PHQ-9's item 9 is above the policy limit."""
    if measured.instrument is not Instrument.PHQ9:
        return []
    item9 = measured.item_scores[8]
    if item9 <= policy.phq9_item9_flag_above:
        return []
    return [
        OutcomeSuicidalityFlagRaised(
            patient_id=measured.patient_id,
            source=SuicidalitySource.PHQ9_ITEM_9,
            instrument=Instrument.PHQ9,
            timepoint=measured.timepoint,
            detail=f"PHQ-9 item 9 = {item9} ({measured.timepoint.value.replace('_', ' ')})",
            measured_at=measured.measured_at,
            follow_up_due_by=end_of_day(measured.measured_at),
            policy_version=policy.version,
        )
    ]


def baseline_of(state: PlanState, context: PatientContext, instrument: Instrument) -> int | None:
    """The patient's baseline on `instrument`: intake's, else the first outcome measured at the
    baseline timepoint in this plan."""
    if (baseline := context.baselines.get(instrument)) is not None:
        return baseline
    taken = [
        o
        for o in state.outcomes
        if o.instrument is instrument and o.timepoint is OutcomeTimepoint.BASELINE
    ]
    return min(taken, key=lambda o: o.measured_at).total if taken else None


def indication_instrument(context: PatientContext, policy: IntegrationPolicy) -> Instrument:
    """The instrument that measures the patient's indication (PHQ-9 when it is not known)."""
    if context.referral_reason is None:
        return Instrument.PHQ9
    return policy.indication_instrument[context.referral_reason]


def complete_course(
    state: PlanState, request: CompleteCourse, command: StaffCommand, policy: IntegrationPolicy
) -> list[DomainEvent]:
    context = command.context
    course_id = check_course_open(state, context)
    planned, done = context.planned_dosing_sessions or 0, state.discharges_in_course
    if done < planned:
        raise RuleViolation(
            f"{done} of {planned} planned dosing sessions are done; the course cannot complete yet"
        )
    instrument = indication_instrument(context, policy)
    last = state.last_discharge
    final = [
        o
        for o in state.outcomes
        if o.instrument is instrument
        and o.timepoint is OutcomeTimepoint.END_OF_COURSE
        and (last is None or o.measured_at >= last)
    ]
    if not final:
        raise RuleViolation(
            f"measure the final {instrument.value} (the measure of this patient's indication; "
            "timepoint end_of_course, after the last session) first"
        )
    final_total = max(final, key=lambda o: o.measured_at).total
    baseline = baseline_of(state, context, instrument)
    criteria = policy.criteria_for(instrument)
    judged = judge(criteria, baseline, final_total)
    return [
        CourseCompleted(
            patient_id=context.patient_id,
            course_id=course_id,
            completed_at=charted(request.completed_at, command.now, "completed_at"),
            dosing_sessions_completed=done,
            instrument=instrument,
            final_total=final_total,
            baseline_total=baseline,
            response=judged.response,
            substantial_response=judged.substantial_response,
            remission=judged.remission,
            criteria=criteria,
            policy_version=policy.version,
        )
    ]


def discontinue_course(
    state: PlanState, request: DiscontinueCourse, command: StaffCommand
) -> list[DomainEvent]:
    course_id = check_course_open(state, command.context)
    return [
        CourseDiscontinued(
            patient_id=command.context.patient_id,
            course_id=course_id,
            discontinued_at=charted(request.discontinued_at, command.now, "discontinued_at"),
            reason=request.reason,
            details=request.details,
        )
    ]


def check_course_open(state: PlanState, context: PatientContext) -> UUID:
    if context.course_id is None:
        raise NotFound("this patient has no course")
    if state.completed is not None and state.completed.course_id == context.course_id:
        raise RuleViolation(
            f"the course was completed ({state.completed.completed_at.isoformat()})"
        )
    if state.discontinued is not None and state.discontinued.course_id == context.course_id:
        raise RuleViolation(f"the course was discontinued ({state.discontinued.reason.value})")
    return context.course_id


def evolve(state: PlanState, event: DomainEvent) -> PlanState:
    """The state after one event."""
    match event:
        case IntegrationSessionDue():
            return replace(
                state,
                patient_id=event.patient_id,
                due={**state.due, event.dosing_session_id: event},
            )
        case IntegrationSessionOverdue():
            return replace(state, overdue=state.overdue | {event.dosing_session_id})
        case IntegrationSessionCompleted():
            return replace(state, sessions=(*state.sessions, event))
        case OutcomeMeasured():
            return replace(state, outcomes=(*state.outcomes, event))
        case CourseCompleted():
            return replace(state, completed=event)
        case CourseDiscontinued():
            return replace(state, discontinued=event)
    return state
