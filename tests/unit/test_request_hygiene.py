"""What a request may carry, checked before anything reads it: the body's size, and the
correlation id that is copied into every event the request causes."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from test_input_bounds_over_http import auth, running, settings, stored_events

from carepath.chassis.auth import Role
from carepath.chassis.runtime import ServiceRuntime
from carepath.intake.app import IntakeSettings
from carepath.intake.app import create_app as create_intake_app

REFERRAL = {
    "given_name": "Ada",
    "family_name": "Lane",
    "date_of_birth": "1980-05-17",
    "referral_reason": "depression",
    "referrer": "Dr Okafor",
}


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    app: Any = create_intake_app(settings(IntakeSettings, "intake", tmp_path))
    async for client in running(app):
        yield client, app.state.runtime


async def test_a_body_over_the_limit_is_413_before_auth_and_nothing_is_stored(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, runtime = intake
    huge = {**REFERRAL, "contact": "x" * 2_000_000}

    response = await client.post("/patients", json=huge)  # no token: the size is judged first

    assert response.status_code == 413
    assert "larger than 1,048,576 bytes" in response.json()["detail"]
    assert await stored_events(runtime) == 0


async def test_a_chunked_body_without_a_length_is_limited_as_it_arrives(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, runtime = intake

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65_536

    response = await client.post(
        "/patients",
        content=chunks(),
        headers={**auth(Role.CLINICIAN), "content-type": "application/json"},
    )

    assert response.status_code == 413
    assert await stored_events(runtime) == 0


async def test_a_small_chunked_body_is_read_as_usual(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, _ = intake

    async def chunks() -> AsyncIterator[bytes]:
        yield httpx.Request("POST", "/", json=REFERRAL).read()

    response = await client.post(
        "/patients",
        content=chunks(),
        headers={**auth(Role.CLINICIAN), "content-type": "application/json"},
    )
    assert response.status_code == 201, response.text


async def test_a_correlation_id_that_is_not_a_uuid_is_422_naming_the_header(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, runtime = intake
    response = await client.post(
        "/patients",
        json=REFERRAL,
        headers={**auth(Role.CLINICIAN), "X-Correlation-ID": "ada lane, 1980-05-17"},
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["header", "X-Correlation-ID"] and "UUID" in error["msg"]
    assert await stored_events(runtime) == 0


async def test_a_uuid_correlation_id_is_carried_into_the_events(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, runtime = intake
    correlation = uuid4()
    response = await client.post(
        "/patients",
        json=REFERRAL,
        headers={**auth(Role.CLINICIAN), "X-Correlation-ID": str(correlation).upper()},
    )
    assert response.status_code == 201, response.text
    [event] = await runtime.relay.outbox.unpublished(10)
    assert event.metadata["correlation_id"] == str(correlation)


async def test_a_refused_request_about_a_patient_is_recorded_as_a_denied_access(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, runtime = intake
    patient = uuid4()

    anonymous = await client.get(f"/patients/{patient}")
    refused = await client.get(f"/patients/{patient}/data-key", headers=auth(Role.NURSE))

    assert (anonymous.status_code, refused.status_code) == (401, 403)
    assert refused.json()["detail"].startswith("role nurse may not do this")
    recorded = [e.event() for e in await runtime.relay.outbox.unpublished(10)]
    assert [
        (e.user_id, e.role, e.resource, e.outcome.value)  # type: ignore[attr-defined]
        for e in recorded
    ] == [
        ("anonymous", "anonymous", "GET /patients/{patient_id}", "denied"),
        ("bounds-test", "nurse", "GET /patients/{patient_id}/data-key", "denied"),
    ]
    assert all(e.patient_id == patient for e in recorded)  # type: ignore[attr-defined]


async def test_a_refused_request_that_names_no_patient_records_nothing(
    intake: tuple[httpx.AsyncClient, ServiceRuntime],
) -> None:
    client, runtime = intake
    assert (await client.post("/patients", json=REFERRAL)).status_code == 401
    assert await stored_events(runtime) == 0
