"""The versions of the dashboard's read models, on SQLite: which version serves, when a building
one takes over, which code may run on a version's tables, and what a prune may drop (the
broker's lag is given, not read)."""

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from dashboard_fixtures import dashboard_app
from pydantic import ValidationError
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from carepath.chassis import schema
from carepath.chassis.database import create_engine
from carepath.dashboard.models import PROJECTION_VERSION, _VersionOverride, table_name
from carepath.dashboard.readiness import CATCH_UP_POLL_S, Readiness
from carepath.dashboard.retirement import NotReinstatable, VersionInUse, drop, reinstate
from carepath.dashboard.versions import (
    BuiltByOtherCode,
    ProjectionVersion,
    State,
    activate,
    register,
    state_of,
    versions,
)
from support import ROOT

V1, V2, V3 = ProjectionVersion(1), ProjectionVersion(2), ProjectionVersion(3)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'dashboard.db'}")
    await schema.migrate(engine, "dashboard")
    yield engine
    await engine.dispose()


async def recorded(engine: AsyncEngine) -> dict[int, str]:
    return {row.version: row.state for row in await versions(engine)}


def test_version_1_keeps_the_names_and_group_it_was_released_with() -> None:
    assert (V1.group, V1.scope, V1.generation) == ("carepath.dashboard", "dashboard", None)
    assert (V2.group, V2.scope, V2.generation) == ("carepath.dashboard.v2", "dashboard.v2", "v2")
    assert table_name("dash_patient", 1) == "dash_patient"
    assert "dash_timeline_v2" in V2.tables


async def test_the_first_version_of_a_database_serves_at_once(engine: AsyncEngine) -> None:
    assert await register(engine, V2) is State.ACTIVE
    assert await register(engine, V2) is State.ACTIVE  # a replica, a restart


async def test_a_later_version_builds_until_it_is_activated(engine: AsyncEngine) -> None:
    await register(engine, V1)
    assert await register(engine, V2) is State.BUILDING
    await activate(engine, V2)
    assert await recorded(engine) == {1: "retired", 2: "active"}


async def test_an_old_pod_starting_again_mid_rollout_never_takes_the_read_models_back(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    await register(engine, V2)
    assert await activate(engine, V2)
    assert await register(engine, V1) is State.RETIRED  # it stays retired
    assert not await activate(engine, V1)  # and never serves by itself
    assert await recorded(engine) == {1: "retired", 2: "active"}


async def test_a_version_older_than_the_serving_one_is_retired_from_its_first_start(
    engine: AsyncEngine,
) -> None:
    await register(engine, V3)
    assert await register(engine, V2) is State.RETIRED
    assert not await activate(engine, V2)
    assert await recorded(engine) == {2: "retired", 3: "active"}


async def test_a_newer_version_wins_over_an_older_one_still_building(engine: AsyncEngine) -> None:
    await register(engine, V1)
    await register(engine, V2)  # still building when v3 is rolled out
    await register(engine, V3)
    assert await activate(engine, V3)
    assert not await activate(engine, V2)  # caught up later: too late
    assert await recorded(engine) == {1: "retired", 2: "retired", 3: "active"}


async def test_a_rollback_is_an_operator_s_reinstatement_and_nothing_undoes_it(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    await register(engine, V2)
    await activate(engine, V2)
    await register(engine, V3)  # building
    await reinstate(engine, V1)
    assert await recorded(engine) == {1: "active", 2: "retired", 3: "retired"}
    assert await register(engine, V2) is State.RETIRED  # a v2 pod restarting meanwhile
    assert not await activate(engine, V3)
    with pytest.raises(NotReinstatable, match="v4 are not recorded"):
        await reinstate(engine, ProjectionVersion(4))


async def test_a_version_that_never_served_cannot_be_reinstated(engine: AsyncEngine) -> None:
    await register(engine, V1)
    await register(engine, V2)
    with pytest.raises(NotReinstatable, match="v2 never served"):
        await reinstate(engine, V2)  # still building
    await activate(engine, V2)
    await drop(engine, V1)  # pruned: its pods starting again build it from offset 0
    assert await register(engine, V1) is State.RETIRED
    with pytest.raises(NotReinstatable, match=r"v1 never served.*CAREPATH_PROJECTION_VERSION"):
        await reinstate(engine, V1)


async def test_a_pruned_version_catching_up_leaves_the_serving_one_serving(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    await register(engine, V2)
    await drop(engine, V2)  # a prune, while a pod of v2 still looked at its lag
    assert not await activate(engine, V2)
    assert await recorded(engine) == {1: "active"}


async def test_projection_code_never_runs_on_tables_other_projection_code_built(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1, code=1)
    await register(engine, V2, code=1)  # CAREPATH_PROJECTION_VERSION=2 for a rebuild
    assert await register(engine, V2, code=1) is State.BUILDING  # the same code again: fine
    # A release raises the code's PROJECTION_VERSION to 2: v2's tables are the old code's.
    with pytest.raises(BuiltByOtherCode, match="CAREPATH_PROJECTION_VERSION=3") as refused:
        await register(engine, V2, code=2)
    assert "built by the code of projection version 1" in str(refused.value)
    assert await recorded(engine) == {1: "active", 2: "building"}  # nothing changed


@pytest.mark.parametrize("number", ["1", "0"])
def test_a_version_override_not_above_the_code_s_own_is_refused(
    number: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREPATH_PROJECTION_VERSION", number)
    with pytest.raises(ValidationError, match="CAREPATH_PROJECTION_VERSION"):
        _VersionOverride()
    monkeypatch.setenv("CAREPATH_PROJECTION_VERSION", "2")
    assert _VersionOverride().projection_version == 2


def test_the_revisions_match_the_models_whatever_version_runs(tmp_path: Path) -> None:
    # Version 2's tables are the dashboard's own, and version 1's no longer in its models.
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}"
    command = ["carepath.chassis.migrate_cli", "dashboard", "--compare-models"]
    compared = subprocess.run(
        [sys.executable, "-m", *command, "--database-url", scratch],
        env={**os.environ, "CAREPATH_PROJECTION_VERSION": "2"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr


async def test_version_1_from_before_versions_were_recorded_keeps_serving(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:  # what the dashboard applied before this release
        await connection.execute(
            text("INSERT INTO inbox VALUES ('dashboard', :id, 'x', :at)"),
            {"id": uuid4().hex, "at": datetime.now(UTC)},
        )
    assert await register(engine, V2) is State.BUILDING
    assert await recorded(engine) == {1: "active", 2: "building"}


def test_the_catch_up_is_not_read_from_the_brokers_every_second() -> None:
    assert CATCH_UP_POLL_S >= 5


async def test_a_building_version_is_ready_once_every_partition_reached_its_end(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    lags = iter([{("a", 0): 5, ("a", 1): 0}, {("a", 0): 0, ("a", 1): 2}])
    readiness = Readiness(engine, lambda: next(lags), V2, state=await register(engine, V2))
    await readiness.look()
    assert not readiness.ready and readiness.describe() == "building read models v2: 5 behind"
    await readiness.look()  # each partition was at its end once: caught up
    assert readiness.ready
    assert await recorded(engine) == {1: "retired", 2: "active"}


async def test_a_replica_is_ready_when_another_made_its_version_active(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    readiness = Readiness(engine, lambda: {("a", 0): 9}, V2, state=await register(engine, V2))
    await activate(engine, V2)
    await readiness.look()
    assert readiness.ready


def no_lag_read() -> dict[tuple[str, int], int]:
    raise AssertionError("the lag is read while building only")


async def test_a_serving_dashboard_stops_serving_once_another_version_serves(
    engine: AsyncEngine,
) -> None:
    serving = Readiness(engine, no_lag_read, V1, state=await register(engine, V1))
    await serving.look()
    assert serving.ready
    await register(engine, V2)
    await activate(engine, V2)
    await serving.look()
    assert not serving.ready
    assert serving.describe().startswith("read models v1 are retired: another version serves")
    await reinstate(engine, V1)  # a rollback
    await serving.look()
    assert serving.ready


async def test_a_prune_re_checks_under_its_lock_what_it_was_told_and_then_forgets_the_group(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    await register(engine, V2)
    await activate(engine, V2)
    forgotten: list[str] = []

    async def forget_group() -> None:
        forgotten.append("the group")

    await reinstate(engine, V1)  # after the prune listed v1 as retired
    with pytest.raises(VersionInUse, match="v1 are the active ones"):
        await drop(engine, V1, forget_group)
    assert forgotten == [] and await state_of(engine, V1) is State.ACTIVE
    await drop(engine, V2, forget_group)
    assert forgotten == ["the group"] and await state_of(engine, V2) is None


async def test_a_prune_drops_a_retired_version_and_never_the_active_one(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    await register(engine, V3)
    await activate(engine, V3)
    with pytest.raises(VersionInUse, match="v3 are the active ones"):
        await drop(engine, V3)
    await drop(engine, V1)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert not tables & set(V1.tables)
    assert await state_of(engine, V3) is State.ACTIVE and await state_of(engine, V1) is None


async def test_the_dashboard_refuses_to_start_on_tables_other_projection_code_built(
    tmp_path: Path,
) -> None:
    app = dashboard_app(tmp_path)
    engine = app.state.runtime.engine
    await schema.migrate(engine, "dashboard")
    await register(engine, V1, code=PROJECTION_VERSION + 1)  # built by another release's code
    with pytest.raises(BuiltByOtherCode, match="CAREPATH_PROJECTION_VERSION"):
        async with app.router.lifespan_context(app):
            pass
