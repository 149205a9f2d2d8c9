"""The course cannot be walked round: a Hypothesis state machine drives the session decider with
upstream events (eligibility's clearance, a decline on review, a closed screening, intake's
consent withdrawal, integration's end of the course) in any order, interleaved with staff
commands and the clock, and checks after every step what was decided against an oracle that
knows only what happened, not the decider's state:

- no DoseAdministered unless consent is active, the screening was neither declined nor closed,
  the course is open, not suspended, not ended, within its plan, and the check-in lies within the
  policy window before the dose;
- no PatientDischarged before the observation window from the end of administration, nor without
  a BP taken after the expected peak whose last reading is under the alert threshold.
"""

from datetime import datetime, timedelta
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule
from session_fixtures import DECIDER, NOW, PATIENT, POLICY

from carepath.chassis.errors import CarePathError
from carepath.contracts import DomainEvent
from carepath.contracts.common import TherapyModality
from carepath.contracts.session import (
    AddBoosterSession,
    AdministerDose,
    BoosterSessionAdded,
    CheckIn,
    CourseEndReason,
    CourseOpened,
    CourseOpeningBasis,
    CourseSuspensionReason,
    DischargePatient,
    DoseAdministered,
    DosingSessionScheduled,
    MaintenancePhaseStarted,
    PatientDischarged,
    RecordPreparationSession,
    RecordVitals,
    ResumeCourse,
    Route,
    ScheduleDosingSession,
    StartMaintenance,
    SuspendCourse,
)
from carepath.session.domain import (
    CourseCommand,
    EndCourse,
    OpenCourse,
    StaffCommand,
    SuspendForConsentWithdrawal,
)

START = NOW - timedelta(days=3)
WINDOW = timedelta(minutes=POLICY.discharge.min_observation_minutes)
PEAK = timedelta(minutes=POLICY.discharge.bp_after_dose_minutes)
CHECK_IN_VALID = timedelta(minutes=POLICY.check_in.valid_minutes)
# Most visits go through; some are interrupted between the check-in and the dose.
INTERRUPTIONS = (None,) * 10 + ("declined on review", "screening closed", "consent withdrawn")
INTERRUPTIONS += ("course ended", "suspended")


class CourseMachine(RuleBasedStateMachine):
    """One patient's course, as the session service sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.state = DECIDER.initial_state
        self.clock = START
        # The oracle: what happened, whatever the decider made of it.
        self.consents = [START - timedelta(days=1)]  # consent is given before intake completes
        self.withdrawals: list[datetime] = []
        self.noes: list[datetime] = []  # declines, closures, endings
        self.course_consent: datetime | None = None
        self.new_course()

    def new_course(self) -> None:
        """What the oracle knows of the course now open (none yet, or a new one)."""
        self.declined = self.closed = self.ended = False
        self.suspended_by_clinician = False
        self.doses = 0
        self.maintenance = False
        self.boosters = 0
        self.last_dose_at: datetime | None = None
        self.session: UUID | None = None
        self.checked_in_at: datetime | None = None
        self.dosed_at: datetime | None = None
        self.infusion = timedelta(0)
        self.bps: list[tuple[datetime, int, int]] = []

    # --- plumbing ---------------------------------------------------------------------------

    def run(self, command: CourseCommand) -> list[DomainEvent]:
        try:
            events = list(DECIDER.decide(self.state, command))
        except CarePathError:
            return []  # refused: nothing happened
        self.state = DECIDER.fold_onto(self.state, events)
        for event in events:  # checked as decided: a rule may take several steps
            if isinstance(event, CourseOpened):
                self.check_the_opening(command)
            if isinstance(event, DoseAdministered):
                self.doses += 1
                self.check_the_dose(event)
                self.last_dose_at = event.administered_at
            if isinstance(event, DosingSessionScheduled) and self.maintenance:
                gap = timedelta(days=POLICY.maintenance.min_interval_days)
                assert self.last_dose_at is not None
                assert event.scheduled_for >= self.last_dose_at + gap, "maintenance too close"
            if isinstance(event, PatientDischarged):
                self.check_the_discharge(event)
            if isinstance(event, BoosterSessionAdded):
                assert self.maintenance, "a booster outside the maintenance phase"
                self.boosters += 1
                assert self.boosters <= POLICY.maintenance.max_boosters, "too many boosters"
            if isinstance(event, MaintenancePhaseStarted):
                assert self.doses >= POLICY.course.planned_dosing_sessions, "maintenance too soon"
                self.maintenance = True
        return events

    def staff(self, request: object, *, session: UUID | None = None, new: bool = False) -> list:
        new_id = uuid4() if new else None
        command = StaffCommand(
            request=request,  # type: ignore[arg-type]
            now=self.clock + timedelta(minutes=1),
            session_id=session,
            new_id=new_id,
        )
        events = self.run(command)
        if new and events and isinstance(request, ScheduleDosingSession):
            self.session = new_id
            self.checked_in_at = self.dosed_at = None
            self.bps = []
        return events

    @initialize(start=st.sampled_from(["nothing", "cleared", "induction done"]))
    def a_patient_somewhere_on_the_pathway(self, start: str) -> None:
        """A third of the runs start with an open, prepared course, so that dosing is reached
        often, and a third at the end of an uneventful induction, so that maintenance is; the
        rest leave every order to the rules."""
        if start == "nothing":
            return
        self.eligibility_clears_the_patient()
        self.a_preparation_session()
        if start == "induction done":
            for _ in range(POLICY.course.planned_dosing_sessions):
                self.a_whole_dosing_visit(Route.IM, 5, 90, 120, 200, None)
                self.clock += timedelta(days=2)

    # --- the clock ------------------------------------------------------------------------------

    @rule(minutes=st.integers(min_value=1, max_value=240))
    def time_passes(self, minutes: int) -> None:
        self.clock += timedelta(minutes=minutes)

    # --- upstream events, in any order ----------------------------------------------------------

    @rule(on=st.sampled_from(["the latest consent", "the first consent"]))
    def eligibility_clears_the_patient(self, on: str = "the first consent") -> None:
        """A screening says eligible: a new one on the latest consent, or the first screening
        delivered (again) late."""
        self.run(
            OpenCourse(
                patient_id=PATIENT,
                course_id=uuid4(),
                basis=CourseOpeningBasis.ELIGIBLE,
                basis_event_id=uuid4(),
                consent_given_at=self.consents[-1 if on == "the latest consent" else 0],
            )
        )

    @precondition(lambda self: self.withdrawals and self.withdrawals[-1] > self.consents[-1])
    @rule()
    def the_patient_consents_again(self) -> None:
        """New consent after a withdrawal: intake completes again and eligibility screens again
        (the rule above, on the latest consent)."""
        self.clock += timedelta(minutes=1)
        self.consents.append(self.clock)

    @rule(
        which=st.sampled_from(
            ["declined on review", "screening closed", "consent withdrawn", "course ended"]
        )
    )
    def the_clinic_says_no(self, which: str) -> None:
        """One rule for every upstream "no", so that a course often gets far enough to dose."""
        match which:
            case "declined on review":
                self.declined = True
                self.noes.append(self.clock)
                reason = CourseEndReason.SCREENING_DECLINED
                self.run(EndCourse(reason, uuid4(), patient_id=PATIENT, at=self.clock))
            case "screening closed":
                self.closed = True
                self.noes.append(self.clock)
                reason = CourseEndReason.SCREENING_CLOSED
                self.run(EndCourse(reason, uuid4(), patient_id=PATIENT, at=self.clock))
            case "consent withdrawn":
                self.clock += timedelta(minutes=1)  # after the consent it withdraws
                self.withdrawals.append(self.clock)
                self.run(
                    SuspendForConsentWithdrawal(
                        withdrawal_event_id=uuid4(), patient_id=PATIENT, withdrawn_at=self.clock
                    )
                )
            case "course ended" if self.state.course is not None and self.state.ended is None:
                # integration ends only a course it heard open, and once
                self.ended = True
                self.noes.append(self.clock)
                reason = CourseEndReason.DISCONTINUED
                self.run(EndCourse(reason=reason, ended_by_event_id=uuid4(), at=self.clock))

    # --- staff -----------------------------------------------------------------------------------

    @rule()
    def a_preparation_session(self) -> None:
        self.staff(
            RecordPreparationSession(
                held_at=self.clock, intentions=["rest"], modality=TherapyModality.ACT
            ),
            new=True,
        )

    @rule(hours_ahead=st.integers(min_value=0, max_value=48))
    def a_booking(self, hours_ahead: int) -> None:
        self.staff(
            ScheduleDosingSession(scheduled_for=self.clock + timedelta(hours=hours_ahead)),
            new=True,
        )

    @precondition(lambda self: self.session is not None)
    @rule(systolic=st.sampled_from([124, 139, 140, 141, 160]))
    def a_check_in(self, systolic: int) -> None:
        request = CheckIn(
            measured_at=self.clock,
            systolic=systolic,
            diastolic=80,
            heart_rate=72,
            spo2=98,
            weight_kg=80.0,
        )
        if self.staff(request, session=self.session):
            self.checked_in_at = self.clock

    @precondition(lambda self: self.session is not None)
    @rule()
    def a_clinician_starts_maintenance(self) -> None:
        self.staff(StartMaintenance(rationale="Relapse prevention after a good induction."))

    @rule()
    def a_clinician_adds_a_booster(self) -> None:
        self.staff(AddBoosterSession(rationale="PHQ-9 rose back to 14 at follow-up."))

    @rule(days=st.sampled_from([1, 13, 14, 30]))
    def weeks_pass(self, days: int) -> None:
        """Maintenance sessions are weeks apart."""
        self.clock += timedelta(days=days)

    @rule(
        route=st.sampled_from([Route.IV, Route.IM]),
        mg=st.sampled_from([8.0, 40.0, 60.0, 80.0]),
    )
    def a_dose(self, route: Route, mg: float) -> None:
        infusion = 40 if route is Route.IV else None
        request = AdministerDose(
            administered_at=self.clock, route=route, dose_mg=mg, infusion_minutes=infusion
        )
        if any(isinstance(e, DoseAdministered) for e in self.staff(request, session=self.session)):
            self.dosed_at, self.infusion = self.clock, timedelta(minutes=infusion or 0)

    @precondition(lambda self: self.session is not None)
    @rule(systolic=st.sampled_from([120, 150, 180, 181, 200]))
    def vitals(self, systolic: int) -> None:
        request = RecordVitals(
            measured_at=self.clock, systolic=systolic, diastolic=85, heart_rate=80, spo2=97
        )
        if self.staff(request, session=self.session):
            self.bps.append((self.clock, systolic, 85))

    @precondition(lambda self: self.session is not None)
    @rule()
    def a_discharge(self) -> None:
        request = DischargePatient(
            discharged_at=self.clock,
            readiness_confirmed=True,
            escort_confirmed=True,
            no_driving_advised=True,
        )
        self.staff(request, session=self.session)

    @rule(suspend=st.booleans())
    def a_clinician_suspends_or_resumes(self, suspend: bool) -> None:
        if suspend:
            request = SuspendCourse(
                reason=CourseSuspensionReason.CLINICIAN_DECISION,
                rationale="Worsening insomnia; review next week.",
            )
            if self.staff(request):
                self.suspended_by_clinician = True
        elif self.staff(ResumeCourse(rationale="Reviewed with the patient; safe to go on.")):
            self.suspended_by_clinician = False

    @rule(
        route=st.sampled_from([Route.IV, Route.IM]),
        checked_in_before=st.sampled_from([5, 59, 60, 61, 180]),
        bp_after=st.sampled_from([None, 20, 39, 40, 90]),
        systolic=st.sampled_from([120, 181]),
        discharge_after=st.sampled_from([60, 119, 120, 159, 160, 200]),
        interruption=st.sampled_from(INTERRUPTIONS),
    )
    def a_whole_dosing_visit(
        self,
        route: Route,
        checked_in_before: int,
        bp_after: int | None,
        systolic: int,
        discharge_after: int,
        interruption: str | None,
    ) -> None:
        """Booked, checked in, dosed, a BP, a discharge attempt: each step at its own time
        (the first visit is prepared for, as clinics do)."""
        if self.doses == 0:
            self.a_preparation_session()
        self.a_booking(0)
        self.a_check_in(124)
        self.clock += timedelta(minutes=checked_in_before)
        if interruption == "suspended":  # between the check-in and the dose
            self.a_clinician_suspends_or_resumes(suspend=True)
        elif interruption is not None:
            self.the_clinic_says_no(interruption)
        self.a_dose(route, 40.0)
        dosed = self.clock
        if bp_after is not None:
            self.clock = dosed + timedelta(minutes=bp_after)
            self.vitals(systolic)
        self.clock = max(self.clock, dosed + timedelta(minutes=discharge_after))
        self.a_discharge()

    # --- invariants, checked on every decided event ---------------------------------------------

    def check_the_opening(self, command: CourseCommand) -> None:
        """A course opens only on a screening whose consent came after every withdrawal and
        every "no"; a new course starts afresh."""
        assert isinstance(command, OpenCourse) and command.consent_given_at is not None
        consent = command.consent_given_at
        assert all(w < consent for w in self.withdrawals), "opened on withdrawn consent"
        assert all(n < consent for n in self.noes), "opened after the clinic said no"
        self.course_consent = consent
        self.new_course()

    def check_the_dose(self, event: DoseAdministered) -> None:
        assert self.course_consent is not None
        withdrawn = any(w > self.course_consent for w in self.withdrawals)
        assert not withdrawn, "dosed after consent was withdrawn"
        assert not self.declined, "dosed after a decline on review"
        assert not self.closed, "dosed after the screening was closed"
        assert not self.ended, "dosed after the course ended"
        assert not self.suspended_by_clinician, "dosed while suspended"
        plan = POLICY.course.planned_dosing_sessions
        plan += POLICY.maintenance.sessions + self.boosters if self.maintenance else 0
        assert self.doses <= plan, "dosed beyond the plan"
        assert self.checked_in_at is not None
        assert timedelta(0) <= event.administered_at - self.checked_in_at <= CHECK_IN_VALID

    def check_the_discharge(self, event: PatientDischarged) -> None:
        assert self.dosed_at is not None
        assert event.discharged_at >= self.dosed_at + self.infusion + WINDOW
        after_peak = [bp for bp in self.bps if self.dosed_at + PEAK <= bp[0]]
        assert after_peak, "discharged without a BP after the expected peak"
        last = max(b for b in self.bps if b[0] <= event.discharged_at)
        assert last[1] <= POLICY.monitoring.alert_systolic_mmhg


CourseMachine.TestCase.settings = settings(
    max_examples=1000,
    stateful_step_count=40,
    derandomize=True,  # a fixed seed in `make test`
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_course_cannot_be_walked_round = CourseMachine.TestCase
