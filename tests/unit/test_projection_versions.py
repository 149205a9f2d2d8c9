"""The versions of the dashboard's read models, on SQLite: which version serves, when a building
one takes over, and what a prune may drop (the broker's lag is given, not read)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from carepath.chassis import schema
from carepath.chassis.database import create_engine
from carepath.dashboard.models import table_name
from carepath.dashboard.versions import (
    ProjectionVersion,
    Readiness,
    State,
    VersionInUse,
    activate,
    drop,
    register,
    state_of,
    versions,
)

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


async def test_a_rollback_builds_the_old_version_again_then_it_serves(
    engine: AsyncEngine,
) -> None:
    await register(engine, V1)
    await register(engine, V2)
    await activate(engine, V2)
    assert await register(engine, V1) is State.BUILDING
    await activate(engine, V1)
    assert await recorded(engine) == {1: "active", 2: "retired"}


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
