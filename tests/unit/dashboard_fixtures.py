"""The dashboard app in-process, on SQLite, for unit tests over HTTP: no broker (the relay and the
consumers are not started; the broker figures are fixed), read-model rows written directly."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from sqlmodel import SQLModel
from test_input_bounds_over_http import settings

from carepath.chassis.auth import Role, issue_token
from carepath.chassis.database import create_tables
from carepath.contracts.access import RecordAccessed
from carepath.dashboard.app import DashboardSettings, create_app
from carepath.dashboard.models import AlertView, DosingView, OutcomePoint, PatientView
from carepath.dashboard.service import BrokerFigures, Dashboard
from carepath.dashboard.signin import SESSION_COOKIE

LAG = [{"topic": "carepath.intake.events", "consumed": 3, "end": 3, "lag": 0}]
DEAD_LETTERS = [{"consumer": "dashboard", "topic": "t", "total": 0, "waiting": 0}]


def dashboard_app(folder: Path, **overrides: Any) -> Any:
    """The dashboard app; its broker figures are `LAG` and `DEAD_LETTERS` (no broker)."""
    app: Any = create_app(
        settings(DashboardSettings, "dashboard", folder).model_copy(update=overrides)
    )
    return without_broker(app)


def without_broker(app: Any) -> Any:
    """The dashboard `app` with fixed broker figures: `LAG` and `DEAD_LETTERS` at once, rather
    than a read of a broker that is not there (seconds per summary until it times out)."""
    service: Dashboard = app.state.service
    service._lag = BrokerFigures("projection lag", lambda: LAG)
    service._dead_letters = BrokerFigures("dead-letter counts", lambda: DEAD_LETTERS)
    return app


async def client_of(
    app: Any, *, client: tuple[str, int] = ("127.0.0.1", 50123), scheme: str = "https"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app`, calling from `client` (the address the server sees)."""
    await create_tables(app.state.runtime.engine)
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://dashboard.test") as c:
        yield c
    await app.state.runtime.engine.dispose()


def token_for(app: Any, role: Role, user: str = "dr-test") -> str:
    """A token the app accepts: issued under its own settings."""
    return issue_token(app.state.settings, role, user, ttl=timedelta(hours=1))


def bearer(app: Any, role: Role, user: str = "dr-test") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, role, user)}"}


def session_cookie(app: Any, role: Role, user: str = "dr-test") -> dict[str, str]:
    """The header of a browser signed in as `role` (the cookie `POST /login` sets)."""
    return {"Cookie": f"{SESSION_COOKIE}={token_for(app, role, user)}"}


async def add_rows(app: Any, *rows: SQLModel) -> None:
    async with app.state.runtime.store.transaction() as session:
        session.add_all(rows)


def alert(patient_id: UUID, kind: str = "suicidality") -> AlertView:
    return AlertView(
        alert_id=uuid4(),
        patient_id=patient_id,
        kind=kind,
        detail="PHQ-9 item 9 = 2",
        raised_at=datetime.now(UTC) - timedelta(minutes=5),
    )


def dosing_today(patient_id: UUID) -> DosingView:
    return DosingView(
        session_id=uuid4(),
        patient_id=patient_id,
        session_number=1,
        scheduled_for=datetime.now(UTC),
        status="monitoring",
        dosed_at=datetime.now(UTC) - timedelta(minutes=20),
        last_bp="128/82",
    )


def trajectory(patient_id: UUID) -> list[SQLModel]:
    """A patient with a baseline and a later PHQ-9: a line on the outcomes chart."""
    start = datetime.now(UTC) - timedelta(days=30)
    return [
        PatientView(patient_id=patient_id, referral_reason="depression", referred=True),
        *(
            OutcomePoint(
                event_id=uuid4(),
                patient_id=patient_id,
                instrument="PHQ9",
                total=total,
                timepoint=timepoint,
                measured_at=start + timedelta(days=days),
            )
            for total, timepoint, days in ((19, "baseline", 0), (9, "week_4", 28))
        ),
    ]


async def reads_recorded(app: Any, patient_id: UUID) -> list[RecordAccessed]:
    """The `RecordAccessed` the dashboard stored about a patient, oldest first."""
    recorded = await app.state.runtime.store.load(f"access-dashboard-{patient_id}")
    events = [r.event() for r in recorded]
    assert all(isinstance(e, RecordAccessed) for e in events)
    return events
