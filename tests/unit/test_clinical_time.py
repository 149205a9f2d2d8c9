"""Clinical time apart from recorded time: every event says when it happened (`occurred_at`, the
charted time), which staff may chart after the fact but never in the future."""

from datetime import UTC, datetime, timedelta

import intake_fixtures as intake
import pytest
import session_fixtures as session

from carepath.chassis.errors import InvalidField
from carepath.contracts import clinical_time, registry
from carepath.contracts.envelope import CloudEvent
from carepath.contracts.intake import IntakeCompleted, RecordAssessment
from carepath.contracts.session import (
    CourseSuspensionReason,
    ResumeCourse,
    ScheduleDosingSession,
    SuspendCourse,
)

DAYS_AGO = intake.NOW - timedelta(days=12)


CHARTED_OCCURRED_AT_FROM_V1 = {
    "carepath.session.AdverseEventReported.v1",
    "carepath.session.AdverseEventReported.v2",
}


def test_every_event_type_publishes_occurred_at_optional_for_older_payloads() -> None:
    for model in registry.models():
        schema = model.model_json_schema()
        assert "occurred_at" in schema["properties"], model.event_type()
        required = "occurred_at" in schema.get("required", [])
        assert required is (model.event_type() in CHARTED_OCCURRED_AT_FROM_V1), model.event_type()


def test_an_event_that_charts_its_own_time_occurred_then() -> None:
    charted = datetime(2026, 3, 4, 9, 30, tzinfo=UTC)
    for model in registry.models():
        if model.clinical_time_field is None:
            continue
        assert model.clinical_time_field in model.model_fields, model.event_type()
        fields = {model.clinical_time_field: charted}
        # the before-validator runs ahead of field validation: an empty payload is enough here
        data = model._occurred_at_from_the_charted_field(fields)  # type: ignore[operator]
        assert data["occurred_at"] == charted, model.event_type()


def envelope(event_type: str, data: dict[str, object], recorded: datetime) -> CloudEvent:
    return CloudEvent(
        id="7d1f0e4c-1d2b-4a4e-9c55-0b7c2a1e9f10",
        source="/carepath/session",
        type=event_type,
        time=recorded,
        subject=str(intake.PATIENT),
        data=data,
        sequence=1,
        streamid="course-x",
        correlationid="c",
        actor="service:session",
    )


RECORDED = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def test_an_event_recorded_before_occurred_at_existed_happened_at_its_charted_time() -> None:
    charted = datetime(2026, 1, 1, 22, 0, tzinfo=UTC)
    old_consent = {
        "patient_id": str(intake.PATIENT),
        "consent_version": "kap-consent-3.2",
        "consent_text_sha256": "ab" * 32,
        "given_at": charted.isoformat(),
    }
    assert clinical_time(envelope("carepath.intake.ConsentGiven.v1", old_consent, RECORDED)) == (
        charted
    )


def test_an_old_event_without_a_charted_field_happened_when_recorded() -> None:
    old = {
        "patient_id": str(intake.PATIENT),
        "intake_completed_event_id": "7d1f0e4c-1d2b-4a4e-9c55-0b7c2a1e9f11",
    }
    assert clinical_time(envelope("carepath.eligibility.ScreeningStarted.v1", old, RECORDED)) == (
        RECORDED
    )
    assert clinical_time(envelope("carepath.x.Unknown.v1", old, RECORDED)) == RECORDED


def test_a_referral_charted_days_ago_happened_then() -> None:
    [referred] = intake.when(
        intake.given(), intake.refer().model_copy(update={"referred_at": DAYS_AGO})
    )
    assert referred.occurred_at == DAYS_AGO
    assert "referred_at" not in referred.model_dump()  # the event's time is `occurred_at`


def test_a_referral_without_a_charted_time_happened_now_when_the_store_dates_it() -> None:
    [referred] = intake.when(intake.given(), intake.refer())
    assert referred.occurred_at == intake.NOW


@pytest.mark.parametrize(
    "request_with_time",
    [
        lambda at: intake.refer().model_copy(update={"referred_at": at}),
        lambda at: intake.FORM.model_copy(update={"submitted_at": at}),
    ],
    ids=["referred_at", "submitted_at"],
)
def test_a_charted_time_in_the_future_is_refused_naming_the_field(request_with_time) -> None:  # type: ignore[no-untyped-def]
    request = request_with_time(intake.NOW + timedelta(hours=1))
    state = (
        intake.given()
        if "referred_at" in type(request).model_fields
        else intake.given(intake.refer())
    )
    with pytest.raises(InvalidField, match=r"(referred|submitted)_at: must not be in the future"):
        intake.when(state, request)


def test_intake_completes_clinically_with_its_last_charted_piece_not_when_typed_in() -> None:
    consent_given = DAYS_AGO + timedelta(days=2)
    state = intake.given(
        intake.refer().model_copy(update={"referred_at": DAYS_AGO}),
        intake.FORM.model_copy(update={"submitted_at": DAYS_AGO + timedelta(days=1)}),
        RecordAssessment(
            instrument="PHQ9",
            answers=[2, 2, 2, 2, 2, 2, 2, 2, 0],
            administered_at=DAYS_AGO + timedelta(days=1),
        ),
        intake.NO_CSSRS.model_copy(update={"administered_at": DAYS_AGO + timedelta(days=1)}),
    )
    events = intake.when(state, intake.CONSENT.model_copy(update={"given_at": consent_given}))
    [completed] = [e for e in events if isinstance(e, IntakeCompleted)]
    assert completed.completed_at == completed.occurred_at == consent_given


def test_a_booking_a_suspension_and_a_resumption_carry_their_charted_times() -> None:
    booked = session.NOW - timedelta(days=3)
    state = session.given(session.open_course())
    [scheduled] = session.when(
        state,
        session.staff(
            ScheduleDosingSession(scheduled_for=session.SCHEDULED_FOR, booked_at=booked),
            new_id=session.SESSION,
        ),
    )
    assert scheduled.occurred_at == booked
    suspended_at = session.NOW - timedelta(days=2)
    suspend = SuspendCourse(
        reason=CourseSuspensionReason.CLINICIAN_DECISION,
        rationale="Worsening insomnia; review in a week.",
        suspended_at=suspended_at,
    )
    [suspended] = session.when(state, session.staff(suspend))
    assert suspended.occurred_at == suspended_at
    state = session.given(session.open_course(), session.staff(suspend))
    resume = ResumeCourse(
        rationale="Reviewed with the patient; safe to continue dosing.",
        resumed_at=session.NOW + timedelta(days=1),
    )
    with pytest.raises(InvalidField, match="resumed_at: must not be in the future"):
        session.when(state, session.staff(resume))


def test_a_deferral_happened_at_the_check_in_that_caused_it() -> None:
    state = session.given(session.open_course(), session.schedule())
    checked_in, deferred = session.when(state, session.check_in(152, 96))
    assert deferred.occurred_at == checked_in.occurred_at == session.CHECKED_IN_AT
