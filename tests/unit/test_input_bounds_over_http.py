"""Out-of-bounds input over HTTP (issue 17): a preparation session held in year 1, a booking
beyond the policy's horizon or in year 9999, a NUL in free text are answered 422 naming the
field, and nothing is stored. The services run in-process on SQLite; the relay and consumers are
not started (no broker needed: what is refused never reaches the outbox)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import func, select

from carepath.audit.app import AuditSettings
from carepath.audit.app import create_app as create_audit_app
from carepath.chassis.auth import Role, issue_token
from carepath.chassis.database import create_tables
from carepath.chassis.runtime import ServiceRuntime
from carepath.chassis.settings import ServiceSettings
from carepath.chassis.store import EventRecord
from carepath.contracts.session import CourseOpeningBasis
from carepath.intake.app import IntakeSettings
from carepath.intake.app import create_app as create_intake_app
from carepath.session.app import SessionSettings
from carepath.session.app import create_app as create_session_app
from carepath.session.domain import OpenCourse, stream_id
from carepath.session.service import Sessions
from support import ISSUER_DIR, issuer_settings

YEAR_ONE = "0001-01-01T00:00:00+01:00"  # as posted in issue 17
RATIONALE = "Worsening insomnia; review in a week."


def auth(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(issuer_settings(), role, 'bounds-test')}"}


def settings(kind: type[ServiceSettings], name: str, folder: Path) -> Any:
    return kind.model_validate(
        {
            "DATABASE_URL": f"sqlite:///{folder / f'{name}.db'}",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never contacted: the relay is not started
            "var_dir": folder,
            "keys_dir": folder / "keys",
            "dev_mode": True,  # no identity provider: the tests' dev issuer signs and verifies
            "dev_issuer_dir": ISSUER_DIR,
            "owns_key_store": True,  # one service alone: it keeps the patients' keys itself
        }
    )


async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    runtime: ServiceRuntime = app.state.runtime
    await create_tables(runtime.engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await runtime.engine.dispose()


async def stored_events(runtime: ServiceRuntime) -> int:
    async with runtime.store.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(EventRecord)) or 0)


def refused_field(response: httpx.Response) -> tuple[list[Any], str, str]:
    """The one error of a 422: where, which kind, and the message."""
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return error["loc"], error["type"], error["msg"]


@pytest.fixture
async def session_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_session_app(settings(SessionSettings, "session", tmp_path))
    async for client in running(app):
        yield client


@pytest.fixture
async def intake_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in running(create_intake_app(settings(IntakeSettings, "intake", tmp_path))):
        yield client


def sessions_of(client: httpx.AsyncClient) -> Sessions:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    service = transport.app.state.service  # type: ignore[attr-defined]
    assert isinstance(service, Sessions)
    return service


async def open_course(client: httpx.AsyncClient) -> tuple[UUID, Sessions]:
    service, patient = sessions_of(client), uuid4()
    opening = OpenCourse(
        patient_id=patient,
        course_id=uuid4(),
        basis=CourseOpeningBasis.ELIGIBLE,
        basis_event_id=uuid4(),
    )
    await service.runtime.handle(
        service.decider,
        stream_id(patient),
        opening,
        subject=str(patient),
        metadata=service.runtime.service_metadata("bounds-test"),
    )
    return patient, service


async def stream_version(service: Sessions, patient: UUID) -> int:
    return await service.runtime.store.version(stream_id(patient))


def hours_from_now(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def preparation(held_at: str, intention: str = "Reconnect with my family") -> dict[str, Any]:
    return {"held_at": held_at, "intentions": [intention], "modality": "act"}


async def test_a_preparation_held_in_year_one_is_422_on_held_at_and_nothing_is_stored(
    session_client: httpx.AsyncClient,
) -> None:
    patient, service = await open_course(session_client)
    path = f"/courses/{patient}/preparation-sessions"
    before = await stored_events(service.runtime)

    refused = await session_client.post(
        path, json=preparation(YEAR_ONE), headers=auth(Role.THERAPIST)
    )

    loc, kind, message = refused_field(refused)
    assert (loc, kind) == (["body", "held_at"], "datetime_too_early")
    assert "1900-01-01T00:00:00Z" in message
    assert await stored_events(service.runtime) == before
    assert await stream_version(service, patient) == 1  # the course opening only
    held = await session_client.post(
        path, json=preparation(hours_from_now(-24)), headers=auth(Role.THERAPIST)
    )
    assert held.status_code == 201, held.text
    assert await stream_version(service, patient) == 2


async def test_a_nul_in_an_intention_is_422_naming_it_and_nothing_is_stored(
    session_client: httpx.AsyncClient,
) -> None:
    patient, service = await open_course(session_client)
    before = await stored_events(service.runtime)

    refused = await session_client.post(
        f"/courses/{patient}/preparation-sessions",
        json=preparation(hours_from_now(-24), intention="Reconnect\x00 with my family"),
        headers=auth(Role.THERAPIST),
    )

    loc, kind, message = refused_field(refused)
    assert (loc, kind) == (["body", "intentions", 0], "control_character")
    assert "U+0000" in message
    assert await stored_events(service.runtime) == before


@pytest.mark.parametrize(
    ("scheduled_for", "kind", "says"),
    [
        (hours_from_now(24 * 366), "value_error", "at most 365 days ahead"),
        ("9999-12-31T23:00:00-05:00", "datetime_too_late", "3000-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00+01:00", "datetime_too_early", "1900-01-01T00:00:00Z"),
    ],
    ids=["beyond-the-horizon", "year-9999", "year-1"],
)
async def test_a_booking_out_of_bounds_is_422_on_scheduled_for_and_nothing_is_stored(
    session_client: httpx.AsyncClient, scheduled_for: str, kind: str, says: str
) -> None:
    patient, service = await open_course(session_client)
    path = f"/courses/{patient}/dosing-sessions"
    before = await stored_events(service.runtime)

    refused = await session_client.post(
        path, json={"scheduled_for": scheduled_for}, headers=auth(Role.NURSE)
    )

    loc, found_kind, message = refused_field(refused)
    assert (loc, found_kind) == (["body", "scheduled_for"], kind)
    assert says in message
    assert await stored_events(service.runtime) == before
    assert await stream_version(service, patient) == 1
    booked = await session_client.post(
        path, json={"scheduled_for": hours_from_now(24 * 30)}, headers=auth(Role.NURSE)
    )
    assert booked.status_code == 201, booked.text


async def test_a_nul_in_a_rationale_is_422_naming_it_and_the_course_is_not_suspended(
    session_client: httpx.AsyncClient,
) -> None:
    patient, service = await open_course(session_client)
    before = await stored_events(service.runtime)

    refused = await session_client.post(
        f"/courses/{patient}/suspension",
        json={"reason": "clinician_decision", "rationale": f"{RATIONALE}\x00"},
        headers=auth(Role.CLINICIAN),
    )

    loc, kind, _ = refused_field(refused)
    assert (loc, kind) == (["body", "rationale"], "control_character")
    assert await stored_events(service.runtime) == before
    assert (await service.course(patient)).suspension is None


async def test_a_nul_in_a_referral_name_is_422_naming_it_and_no_patient_is_created(
    intake_client: httpx.AsyncClient,
) -> None:
    runtime: ServiceRuntime = intake_client._transport.app.state.runtime  # type: ignore[attr-defined]
    referral = {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": "1980-12-10",
        "referral_reason": "depression",
        "referrer": "Dr Babbage",
    }
    writer = auth(Role.INTAKE_COORDINATOR)

    refused = await intake_client.post(
        "/patients", json={**referral, "given_name": "Ada\x00"}, headers=writer
    )

    loc, kind, _ = refused_field(refused)
    assert (loc, kind) == (["body", "given_name"], "control_character")
    assert await stored_events(runtime) == 0
    referred = await intake_client.post("/patients", json=referral, headers=writer)
    assert referred.status_code == 201, referred.text
    assert await stored_events(runtime) == 1


async def test_an_audit_period_from_year_one_is_422_on_since(tmp_path: Path) -> None:
    async for client in running(create_audit_app(settings(AuditSettings, "audit", tmp_path))):
        refused = await client.get("/trail", params={"since": YEAR_ONE}, headers=auth(Role.AUDITOR))
        loc, kind, _ = refused_field(refused)
        assert (loc, kind) == (["query", "since"], "datetime_too_early")
        fine = await client.get(
            "/trail", params={"since": "2026-01-01T00:00:00"}, headers=auth(Role.AUDITOR)
        )
        assert fine.status_code == 200, fine.text
