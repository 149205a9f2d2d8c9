"""What a client may send: every time lies from 1900 (UTC) and before 3000, whatever its offset,
so nothing downstream overflows; no string holds a control character but tab, line feed and
carriage return; a booking lies within the session policy's horizon. Checked on the types, on
every request body of every service, and on the deciders (the second line of defence)."""

import typing
from datetime import UTC, datetime, timedelta, timezone
from types import UnionType
from typing import Any

import pytest
from fastapi._compat import ModelField
from fastapi.routing import APIRoute
from hypothesis import given as for_all
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from session_fixtures import NOW, OPENED, PREPARATION, PREPARED, given, schedule, staff, when

from carepath.audit.api import router as audit_router
from carepath.chassis.charting import charted, end_of_day
from carepath.chassis.errors import InvalidField
from carepath.contracts.common import (
    EARLIEST_TIME,
    TIME_LIMIT,
    BoundedDatetime,
    ContractModel,
    TherapyModality,
    control_characters,
)
from carepath.contracts.intake import Referral, SubmitIntakeForm
from carepath.contracts.session import (
    RecordPreparationSession,
    ScheduleDosingSession,
    SuspendCourse,
)
from carepath.dashboard.api import Acknowledgement
from carepath.dashboard.api import router as dashboard_router
from carepath.eligibility.api import router as eligibility_router
from carepath.intake.api import router as intake_router
from carepath.integration.api import router as integration_router
from carepath.session.api import router as session_router
from carepath.session.clinic_policy import load_policy

BOUNDED = TypeAdapter(BoundedDatetime)
PLUS_ONE = timezone(timedelta(hours=1))
ROUTERS = [
    intake_router,
    eligibility_router,
    session_router,
    integration_router,
    dashboard_router,
    audit_router,
]
YEAR_ONE = "0001-01-01T00:00:00+01:00"  # the time that overflowed the dashboard (issue 17)
OFFSETS = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)


def error_types(error: pytest.ExceptionInfo[ValidationError]) -> dict[tuple[Any, ...], str]:
    return {tuple(e["loc"]): e["type"] for e in error.value.errors()}


# --- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        "1900-01-01T00:00:00Z",
        "1899-12-31T23:00:00-01:00",  # the same instant in another offset
        "2999-12-31T23:59:59Z",
        "2999-12-31T23:59:59+23:59",
        "2026-12-01T09:30:00+05:30",
    ],
)
def test_a_time_from_1900_and_before_3000_is_accepted_whatever_its_offset(sent: str) -> None:
    assert BOUNDED.validate_python(sent).astimezone(UTC).year in (1900, 2026, 2999)


@pytest.mark.parametrize(
    ("sent", "kind"),
    [
        (YEAR_ONE, "datetime_too_early"),
        ("1900-01-01T00:30:00+01:00", "datetime_too_early"),  # 1899-12-31T23:30Z
        ("1899-12-31T23:59:59.999999Z", "datetime_too_early"),
        ("3000-01-01T00:00:00Z", "datetime_too_late"),
        ("2999-12-31T23:59:59-23:59", "datetime_too_late"),  # 3000-01-01 in UTC
        ("9999-12-31T23:00:00-05:00", "datetime_too_late"),
    ],
)
def test_a_time_outside_the_bounds_is_refused_without_overflowing(sent: str, kind: str) -> None:
    with pytest.raises(ValidationError) as refused:
        BOUNDED.validate_python(sent)

    assert error_types(refused) == {(): kind}


@for_all(
    st.datetimes(
        min_value=datetime(1899, 12, 30),
        max_value=datetime(3000, 1, 2),
        timezones=OFFSETS,
    )
)
def test_every_accepted_time_converts_and_takes_the_projections_arithmetic(sent: datetime) -> None:
    try:
        value = BOUNDED.validate_python(sent)
    except ValidationError:
        assert not EARLIEST_TIME <= sent < TIME_LIMIT
        return
    assert EARLIEST_TIME <= value < TIME_LIMIT
    # what the services and projections do with a charted or booked time: none may overflow
    value.astimezone(UTC)
    value.astimezone(timezone(timedelta(hours=-23, minutes=-59)))
    value.astimezone(timezone(timedelta(hours=23, minutes=59)))
    end_of_day(value).astimezone(UTC)
    (value + timedelta(days=3650, minutes=600)).astimezone(UTC)  # the longest horizon, windows


def test_charted_refuses_a_time_before_1900_naming_the_field() -> None:
    with pytest.raises(InvalidField) as refused:
        charted(datetime(1, 1, 1, tzinfo=PLUS_ONE), NOW, "held_at")

    assert refused.value.field == "held_at"
    assert "1900-01-01T00:00:00Z" in refused.value.message
    assert charted(EARLIEST_TIME, NOW, "held_at") == EARLIEST_TIME


def test_the_decider_refuses_year_one_even_past_the_contract() -> None:
    # model_construct skips the contract's validation: the decider's `charted` still refuses it
    request = RecordPreparationSession.model_construct(
        held_at=datetime(1, 1, 1, tzinfo=PLUS_ONE),
        intentions=["reconnect"],
        mindfulness_practice=None,
        modality=TherapyModality.ACT,
        therapist_notes=None,
    )

    with pytest.raises(InvalidField, match="held_at: must not be before 1900"):
        when(given(*OPENED), staff(request, new_id=PREPARATION))


# --- the booking horizon -----------------------------------------------------------------------


def test_a_booking_up_to_the_horizon_is_accepted() -> None:
    horizon = load_policy().booking.horizon_days

    events = when(given(*PREPARED), schedule(scheduled_for=NOW + timedelta(days=horizon)))

    assert [type(event).__name__ for event in events] == ["DosingSessionScheduled"]


def test_a_booking_beyond_the_horizon_is_refused_naming_scheduled_for() -> None:
    horizon = load_policy().booking.horizon_days
    assert horizon == 365

    with pytest.raises(InvalidField) as refused:
        when(given(*PREPARED), schedule(scheduled_for=NOW + timedelta(days=horizon, seconds=1)))

    assert refused.value.field == "scheduled_for"
    assert "at most 365 days ahead" in refused.value.message


def test_a_booking_in_year_9999_is_refused_by_the_contract() -> None:
    with pytest.raises(ValidationError) as refused:
        ScheduleDosingSession.model_validate({"scheduled_for": "9999-12-31T23:00:00-05:00"})

    assert error_types(refused) == {("scheduled_for",): "datetime_too_late"}


# --- control characters ------------------------------------------------------------------------

C0_REFUSED = [chr(code) for code in range(0x20) if chr(code) not in "\t\n\r"]


@pytest.mark.parametrize("character", C0_REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_every_c0_control_character_but_tab_newline_return_is_refused(character: str) -> None:
    with pytest.raises(ValidationError) as refused:
        SuspendCourse.model_validate(
            {"reason": "clinician_decision", "rationale": f"Worsening{character} insomnia, review."}
        )

    [error] = refused.value.errors()
    assert (error["loc"], error["type"]) == (("rationale",), "control_character")
    assert f"U+{ord(character):04X}" in error["msg"]


def test_tab_newline_and_return_are_kept_in_free_text() -> None:
    text = "Worsening insomnia.\r\n\tReview in a week."
    suspended = SuspendCourse.model_validate({"reason": "clinician_decision", "rationale": text})

    assert suspended.rationale == text


def test_a_nul_deep_in_a_body_is_located_at_its_field() -> None:
    with pytest.raises(ValidationError) as refused:
        SubmitIntakeForm.model_validate(
            {"diagnoses": ["MDD"], "medications": [{"name": "sertra\x00line"}]}
        )

    assert error_types(refused) == {("medications", 0, "name"): "control_character"}


def test_a_nul_in_a_referral_name_is_refused() -> None:
    body = {
        "given_name": "Ada\x00",
        "family_name": "Lovelace",
        "date_of_birth": "1980-12-10",
        "referral_reason": "depression",
        "referrer": "Dr Babbage",
    }
    with pytest.raises(ValidationError) as refused:
        Referral.model_validate(body)

    assert error_types(refused) == {("given_name",): "control_character"}
    assert Referral.model_validate({**body, "given_name": "Ada"}).given_name == "Ada"


def test_control_characters_walks_models_lists_and_dicts() -> None:
    found = control_characters({"a": ["ok", {"b\x01": "fine"}], "c": ("x\x7f", "y\x1f")})

    assert [error["loc"] for error in found] == [("a", 1, "b\x01"), ("c", 1)]


def test_a_dashboard_acknowledgement_note_refuses_a_nul() -> None:
    with pytest.raises(ValidationError) as refused:
        Acknowledgement.model_validate({"note": "called\x00"})

    assert error_types(refused) == {("note",): "control_character"}


# --- every request body and query of every service ----------------------------------------------


def routes() -> list[APIRoute]:
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]


def unwrap(annotation: Any) -> list[Any]:
    """The types an annotation may hold: `X | None`, `list[X]`, `Annotated[X, ...]` opened."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, UnionType, list, tuple, dict):
        return [found for arg in typing.get_args(annotation) for found in unwrap(arg)]
    return [annotation]


def models_in(annotation: Any) -> list[type[BaseModel]]:
    return [t for t in unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def holds_a_time(annotation: Any) -> bool:
    return any(found is datetime for found in unwrap(annotation))


def bodies() -> list[tuple[str, ModelField, type[BaseModel]]]:
    return [
        (route.path, param, model)
        for route in routes()
        for param in route.dependant.body_params
        for model in models_in(param.field_info.annotation)
    ]


def nested_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    for field in model.model_fields.values():
        for inner in models_in(field.annotation):
            found |= {inner, *nested_models(inner)}
    return found


def test_the_services_have_request_bodies_to_check() -> None:
    names = {model.__name__ for _, _, model in bodies()}

    assert {"Referral", "RecordPreparationSession", "ScheduleDosingSession"} <= names
    assert {"ReviewScreening", "RecordOutcome", "Acknowledgement", "SuspendCourse"} <= names


@pytest.mark.parametrize(
    ("path", "param", "model"), bodies(), ids=lambda v: getattr(v, "__name__", None)
)
def test_every_request_body_refuses_a_nul_naming_its_fields(
    path: str, param: ModelField, model: type[BaseModel]
) -> None:
    assert issubclass(model, ContractModel), f"{path}: {model.__name__} is not a ContractModel"
    for name in model.model_fields:
        _, errors = param.validate({name: "x\x00"}, {}, loc=("body",))
        assert {"loc": ("body", name), "type": "control_character"} in [
            {"loc": e["loc"], "type": e["type"]} for e in errors or []
        ], f"{path}: {model.__name__}.{name}"


@pytest.mark.parametrize(
    ("path", "param", "model"), bodies(), ids=lambda v: getattr(v, "__name__", None)
)
def test_every_time_in_a_request_body_is_bounded(
    path: str, param: ModelField, model: type[BaseModel]
) -> None:
    for nested in nested_models(model):  # the probe below sends top-level fields only
        assert not any(holds_a_time(f.annotation) for f in nested.model_fields.values()), nested
    for name, field in model.model_fields.items():
        if not holds_a_time(field.annotation):
            continue
        for sent, kind in (
            (YEAR_ONE, "datetime_too_early"),
            ("9999-12-31T23:00Z", "datetime_too_late"),
        ):
            _, errors = param.validate({name: sent}, {}, loc=("body",))
            found = {e["loc"]: e["type"] for e in errors or []}
            assert found.get(("body", name)) == kind, f"{path}: {model.__name__}.{name}"


def test_every_time_in_a_query_is_bounded() -> None:
    checked = []
    for route in routes():
        for param in route.dependant.query_params:
            if not holds_a_time(param.field_info.annotation):
                continue
            _, errors = param.validate(YEAR_ONE, {}, loc=("query", param.name))
            assert [e["type"] for e in errors or []] == ["datetime_too_early"], param.name
            _, errors = param.validate("2026-01-01T00:00:00", {}, loc=("query", param.name))
            assert not errors, "a naive time is read as UTC"
            checked.append(f"{route.path}?{param.name}")

    assert checked == ["/trail?since", "/trail?until"]
