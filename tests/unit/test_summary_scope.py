"""`/api/summary` is scoped to the caller's role and recorded as an access (issue 19): each role
gets the sections of the table in `carepath.dashboard.scope`, no more; each patient whose data is
shown is recorded as read, once per caller and data category within the window, however often
the page refreshes; `/stream` and `/api/session` take the same roles."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from dashboard_fixtures import (
    DEAD_LETTERS,
    LAG,
    add_rows,
    alert,
    bearer,
    client_of,
    dashboard_app,
    dosing_today,
    reads_recorded,
    trajectory,
)

from carepath.chassis.auth import Principal, Role
from carepath.contracts.access import AccessAction, DataCategory
from carepath.dashboard.api import updates
from carepath.dashboard.scope import RecentReads, Section
from carepath.dashboard.service import Changes

ALWAYS = {"generated_at", "clinic_today", "clinic_timezone", "sections"}
KEYS = {
    Section.FUNNEL: {"funnel", "discontinued"},
    Section.TODAY: {"today", "in_monitoring"},
    Section.ALERTS: {"alerts"},
    Section.OPERATIONS: {"lag", "dead_letters"},
}
# Written out here as the README's table says it, not read from the code.
SEES = {
    Role.CLINICIAN: {"funnel", "today", "alerts", "trajectories", "rates", "operations"},
    Role.NURSE: {"funnel", "today", "alerts", "rates", "operations"},
    Role.THERAPIST: {"funnel", "today", "trajectories", "rates", "operations"},
    Role.INTAKE_COORDINATOR: {"funnel", "operations"},
    Role.AUDITOR: {"funnel", "rates", "operations"},
}


class Clinic:
    """Three patients, each on the page in one way: an alert, today's board, an outcome line."""

    def __init__(self) -> None:
        self.alerted, self.dosed, self.measured = uuid4(), uuid4(), uuid4()

    async def open(self, app: Any) -> None:
        await add_rows(
            app, alert(self.alerted), dosing_today(self.dosed), *trajectory(self.measured)
        )


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return dashboard_app(tmp_path)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_of(app):
        yield c


@pytest.fixture
async def clinic(app: Any, client: httpx.AsyncClient) -> Clinic:
    clinic = Clinic()
    await clinic.open(app)
    return clinic


async def summary_as(app: Any, client: httpx.AsyncClient, role: Role, user: str) -> Any:
    answer = await client.get("/api/summary", headers=bearer(app, role, user))
    assert answer.status_code == 200, answer.text
    return answer.json()


def patients_in(summary: dict[str, Any]) -> set[str]:
    """Every patient id anywhere in the answer."""
    outcomes = summary.get("outcomes", {})
    return {
        *(s["patient_id"] for s in summary.get("today", [])),
        *(s["patient_id"] for s in summary.get("in_monitoring", [])),
        *(a["patient_id"] for a in summary.get("alerts", [])),
        *(t["patient_id"] for t in outcomes.get("trajectories", [])),
    }


@pytest.mark.parametrize("role", list(SEES))
async def test_each_role_sees_its_sections_and_only_their_patients_are_recorded(
    app: Any, client: httpx.AsyncClient, clinic: Clinic, role: Role
) -> None:
    summary = await summary_as(app, client, role, f"{role.value}-1")

    sees = SEES[role]
    assert set(summary["sections"]) == sees
    expected = ALWAYS | {key for section in sees for key in KEYS.get(Section(section), ())}
    if sees & {"trajectories", "rates"}:
        expected.add("outcomes")
    assert set(summary) == expected
    outcomes = summary.get("outcomes", {})
    assert ("trajectories" in outcomes) == ("trajectories" in sees)
    assert ("rates" in outcomes) == ("rates" in sees)
    if "operations" in sees:
        assert (summary["lag"], summary["dead_letters"]) == (LAG, DEAD_LETTERS)

    shown = {
        str(clinic.alerted): "alerts" in sees,
        str(clinic.dosed): "today" in sees,
        str(clinic.measured): "trajectories" in sees,
    }
    assert patients_in(summary) == {patient for patient, seen in shown.items() if seen}
    for patient, seen in shown.items():
        reads = await reads_recorded(app, UUID(patient))
        assert len(reads) == (1 if seen else 0), (patient, reads)
        for read in reads:
            assert (read.user_id, read.role) == (f"{role.value}-1", role.value)
            assert read.action is AccessAction.READ
            assert read.resource == "GET /api/summary"
            assert read.service == "dashboard"


async def test_each_shown_data_category_is_recorded(
    app: Any, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    await summary_as(app, client, Role.CLINICIAN, "dr-a")

    [alerted] = await reads_recorded(app, clinic.alerted)
    [dosed] = await reads_recorded(app, clinic.dosed)
    [measured] = await reads_recorded(app, clinic.measured)
    assert alerted.data_categories == [DataCategory.ASSESSMENTS]  # a suicidality alert
    assert dosed.data_categories == [DataCategory.SESSION_CLINICAL]
    assert measured.data_categories == [DataCategory.OUTCOMES]


async def test_a_refreshing_page_is_recorded_once_per_caller_within_the_window(
    app: Any, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    for _ in range(5):  # the page re-reads the summary on every live update
        await summary_as(app, client, Role.NURSE, "nurse-a")
    await summary_as(app, client, Role.NURSE, "nurse-b")  # another caller: their own record

    reads = await reads_recorded(app, clinic.alerted)
    assert [(r.user_id, r.role) for r in reads] == [("nurse-a", "nurse"), ("nurse-b", "nurse")]


async def test_after_the_window_the_same_read_is_recorded_again(
    app: Any, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    now = [1000.0]
    app.state.recent_reads = RecentReads(15 * 60, clock=lambda: now[0])

    await summary_as(app, client, Role.CLINICIAN, "dr-a")
    now[0] += 14 * 60
    await summary_as(app, client, Role.CLINICIAN, "dr-a")
    assert len(await reads_recorded(app, clinic.dosed)) == 1
    now[0] += 2 * 60
    await summary_as(app, client, Role.CLINICIAN, "dr-a")

    assert len(await reads_recorded(app, clinic.dosed)) == 2


async def test_a_patient_newly_on_the_page_is_recorded_at_once(
    app: Any, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    await summary_as(app, client, Role.CLINICIAN, "dr-a")
    newcomer = uuid4()
    await add_rows(app, alert(newcomer, kind="vitals"))

    await summary_as(app, client, Role.CLINICIAN, "dr-a")

    [read] = await reads_recorded(app, newcomer)
    assert read.data_categories == [DataCategory.SESSION_CLINICAL]
    assert len(await reads_recorded(app, clinic.alerted)) == 1


def test_a_read_whose_recording_failed_is_recorded_by_the_next_read() -> None:
    reads = RecentReads(60, clock=lambda: 5.0)
    caller = Principal("dr-a", Role.CLINICIAN)
    shown = {uuid4(): {DataCategory.OUTCOMES}}

    claimed = reads.claim(caller, shown)
    assert reads.claim(caller, shown) == {}
    reads.release(caller, claimed)

    assert reads.claim(caller, shown) == shown


async def test_a_summary_that_cannot_be_recorded_is_not_served(
    app: Any, client: httpx.AsyncClient, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any) -> None:
        raise RuntimeError("the event store is away")

    monkeypatch.setattr(app.state.runtime, "record_read", broken)
    failed = await client.get("/api/summary", headers=bearer(app, Role.CLINICIAN))
    assert failed.status_code == 500 and str(clinic.alerted) not in failed.text  # not served
    monkeypatch.undo()

    await summary_as(app, client, Role.CLINICIAN, "dr-test")  # same caller: not throttled away
    assert len(await reads_recorded(app, clinic.alerted)) == 1


@pytest.mark.parametrize("path", ["/api/summary", "/api/session", "/stream"])
@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SERVICE, Role.PRIVACY_OFFICER])
async def test_roles_without_a_view_get_neither_the_summary_nor_the_stream(
    app: Any, client: httpx.AsyncClient, path: str, role: Role
) -> None:
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer(app, role))).status_code == 403


async def test_the_stream_says_that_something_changed_and_nothing_else() -> None:
    changes = Changes()
    stream = updates(changes)

    first = await anext(stream)
    changes.notify()  # while the first update is on its way
    async with asyncio.timeout(2):  # noticed at once, not at the 15-second poll
        second = await anext(stream)

    assert first == {"event": "update", "data": '{"version": 0}'}
    assert second == {"event": "update", "data": '{"version": 1}'}
    await stream.aclose()
