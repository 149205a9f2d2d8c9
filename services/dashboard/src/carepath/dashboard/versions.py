"""Versions of the read models: a changed projection builds new tables and swaps without downtime.

Each version of the projection (`models.RUNNING_VERSION`) has tables of its own, a Kafka consumer
group of its own (`carepath.dashboard`, then `carepath.dashboard.v2`, ...) and an inbox scope of
its own, so a new version reads every topic from offset 0 beside the old one, which keeps
serving. `read_model_version` records each version, and which projection code built it (a
version's tables are run on by that code only: `BuiltByOtherCode`). A version is `building`
until its group has reached the end of every partition once, then `active`; one version is
active at a time, and a newer version wins over an older one:
- only a `building` version becomes active (`activate`, a compare-and-set under the lock); the
  version that served retires, and so does every older version still building;
- a version older than the active one, recorded for the first time, is `retired` at once, and a
  retired version stays retired when its pods start again (an old pod restarting mid-rollout
  cannot take the read models back); only an operator makes it serve again
  (`carepath-dashboard reinstate-read-models`: a rollback).
A dashboard serves while its version is the active one (`readiness`), so a rolling update keeps
the old pods serving until the new ones have caught up: that is the swap.
`carepath-dashboard prune-read-models` drops a retired version's tables later, never the active
one's (`retirement`).

A version's tables are made by the dashboard itself when it starts (and by `rebuild`), not by an
Alembic revision: they are born empty, filled from the topics and dropped whole, never altered in
place, so they need no history; and making them is harmless to the version still running. Alembic
manages the registry (and version 1's tables, made by the baseline before versions existed).
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Insert,
    and_,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.chassis.database import UTCDateTime
from carepath.chassis.inbox import InboxRecord
from carepath.contracts import CloudEvent
from carepath.dashboard.models import (
    PROJECTION_VERSION,
    READ_MODEL_NAMES,
    READ_MODELS,
    RUNNING_VERSION,
    table_name,
)

PROJECTION = "dashboard"
LOCK_KEY = 0x0CA2E9A9  # advisory-lock id of a change to the versions or their tables (PostgreSQL)


class State(StrEnum):
    BUILDING = "building"
    ACTIVE = "active"
    RETIRED = "retired"


class ReadModelVersion(SQLModel, table=True):
    """One version of a projection's read models, and where it stands."""

    __tablename__ = "read_model_version"

    projection: str = Field(primary_key=True, max_length=100)
    version: int = Field(primary_key=True)
    state: str = Field(max_length=20, description="building, active or retired")
    built_by: int = Field(
        description="The projection code's `PROJECTION_VERSION` that built its tables: no other "
        "code may run on them."
    )
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    activated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


@dataclass(frozen=True)
class ProjectionVersion:
    """What belongs to one version: its tables, its consumer group and its inbox scope."""

    number: int

    @property
    def generation(self) -> str | None:
        """The consumer's generation (`carepath.chassis.consumer.EventConsumer`); version 1 has
        none: its group and inbox are those it was released with."""
        return None if self.number == 1 else f"v{self.number}"

    @property
    def scope(self) -> str:
        """Its consumer's inbox and dead-letter scope."""
        return f"{PROJECTION}.{self.generation}" if self.generation else PROJECTION

    @property
    def group(self) -> str:
        """Its Kafka consumer group."""
        return f"carepath.{self.scope}"

    @property
    def tables(self) -> list[str]:
        return [table_name(name, self.number) for name in READ_MODEL_NAMES]


RUNNING = ProjectionVersion(RUNNING_VERSION)
"""The version this process projects and serves."""


class BuiltByOtherCode(RuntimeError):
    """This projection's code must not run on a version's tables another projection's code
    built: its read models would be silently wrong. The dashboard refuses to start."""


@dataclass(frozen=True)
class Recorded:
    state: State
    built_by: int
    served: bool = False  # active once, at least


def _now() -> datetime:
    return datetime.now(UTC)


def lock(connection: Connection) -> None:
    """One change to the versions (or to their tables) at a time, across processes."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def make_tables(connection: Connection) -> None:
    """Make the running version's tables where they are not there yet (a new version's, or a
    pruned version run again)."""
    inspector = inspect(connection)
    if not all(inspector.has_table(name) for name in RUNNING.tables):
        lock(connection)
        tables = [model.__table__ for model in READ_MODELS]  # type: ignore[attr-defined]
        SQLModel.metadata.create_all(connection, tables=tables, checkfirst=True)


class WhenRecorded:
    """The projection's effect, run once this process's version is recorded (its tables made,
    its code checked against theirs: `register`, when the service starts). The consumer may
    start before that: its first batch waits."""

    def __init__(
        self,
        effect: Callable[[AsyncSession, Sequence[CloudEvent]], Awaitable[None]],
        recorded: asyncio.Event,
    ):
        self._effect = effect
        self._recorded = recorded

    async def __call__(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        await self._recorded.wait()
        await self._effect(session, events)


async def register(
    engine: AsyncEngine, version: ProjectionVersion = RUNNING, code: int = PROJECTION_VERSION
) -> State:
    """Record that `version` runs, projected by `code` (a `PROJECTION_VERSION`), and make its
    tables (the running version's); returns its state. The first version of a database is active
    at once (nothing else could serve); a version newer than the active one builds until it has
    caught up; an older one is retired. A recorded version keeps its state (a replica, a restart).
    Raises `BuiltByOtherCode` when other projection code built the version's tables."""
    async with engine.begin() as connection:
        await connection.run_sync(lock)
        recorded = await recorded_versions(connection)
        if not recorded and version.number != 1 and await _projected_before_versions(connection):
            # Version 1 ran before versions were recorded: its tables are the ones serving.
            await connection.execute(_insert(1, State.ACTIVE, built_by=1))
            recorded[1] = Recorded(State.ACTIVE, 1, served=True)
        if (known := recorded.get(version.number)) is not None:
            if known.built_by != code:
                clash = _built_by_other_code(version, known.built_by, code, recorded)
                raise BuiltByOtherCode(clash)
            state = known.state
        else:
            active = [n for n, r in recorded.items() if r.state == State.ACTIVE]
            state = (
                State.ACTIVE
                if not active
                else State.BUILDING
                if version.number > max(active)
                else State.RETIRED
            )
            await connection.execute(_insert(version.number, state, built_by=code))
        if version == RUNNING:
            await connection.run_sync(make_tables)
        return state


def _built_by_other_code(
    version: ProjectionVersion, built_by: int, code: int, recorded: dict[int, Recorded]
) -> str:
    free = max([*recorded, code]) + 1
    return (
        f"read models v{version.number} were built by the code of projection version "
        f"{built_by}, and this is projection version {code}'s: it would run on tables another "
        f"projection built. Set CAREPATH_PROJECTION_VERSION={free} (a version never used) to "
        f'build its read models afresh beside them (deploy/README.md, "Rebuild a '
        f"projection\"); and raise the code's PROJECTION_VERSION above every version "
        f"`carepath-dashboard read-model-versions` lists."
    )


async def activate(engine: AsyncEngine, version: ProjectionVersion = RUNNING) -> bool:
    """`version` has caught up: it serves from now on, if it is still building and no newer
    version serves (a compare-and-set under the lock); the version that served retires, and so
    does every older version still building. Returns whether it became active."""
    async with engine.begin() as connection:
        await connection.run_sync(lock)
        recorded = await recorded_versions(connection)
        if any(n > version.number and r.state == State.ACTIVE for n, r in recorded.items()):
            return False
        now = _now()
        made = await connection.execute(
            update(ReadModelVersion)
            .where(*row_of(version.number), col(ReadModelVersion.state) == State.BUILDING)
            .values(state=State.ACTIVE, activated_at=now, retired_at=None)
        )
        if made.rowcount != 1:  # not recorded (pruned), retired, or active already
            return False
        await connection.execute(
            update(ReadModelVersion)
            .where(
                col(ReadModelVersion.projection) == PROJECTION,
                or_(
                    col(ReadModelVersion.state) == State.ACTIVE,
                    and_(
                        col(ReadModelVersion.state) == State.BUILDING,
                        col(ReadModelVersion.version) < version.number,
                    ),
                ),
                col(ReadModelVersion.version) != version.number,
            )
            .values(state=State.RETIRED, retired_at=now)
        )
        return True


async def versions(engine: AsyncEngine) -> list[ReadModelVersion]:
    """Every recorded version, oldest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(ReadModelVersion.__table__)  # type: ignore[attr-defined]
            .where(col(ReadModelVersion.projection) == PROJECTION)
            .order_by(col(ReadModelVersion.version))
        )
        return [ReadModelVersion.model_validate(row) for row in rows.mappings()]


async def state_of(engine: AsyncEngine, version: ProjectionVersion = RUNNING) -> State | None:
    """Where `version` stands (None: not recorded)."""
    async with engine.connect() as connection:
        return (await _states(connection)).get(version.number)


async def _states(connection: AsyncConnection) -> dict[int, State]:
    return {number: known.state for number, known in (await recorded_versions(connection)).items()}


async def recorded_versions(connection: AsyncConnection) -> dict[int, Recorded]:
    """Every recorded version of the dashboard's projection, by number."""
    rows = await connection.execute(
        select(
            col(ReadModelVersion.version),
            col(ReadModelVersion.state),
            col(ReadModelVersion.built_by),
            col(ReadModelVersion.activated_at),
        ).where(col(ReadModelVersion.projection) == PROJECTION)
    )
    return {
        number: Recorded(State(state), built_by, served=activated is not None)
        for number, state, built_by, activated in rows.all()
    }


async def _projected_before_versions(connection: AsyncConnection) -> bool:
    applied = await connection.scalar(
        select(func.count())
        .select_from(InboxRecord)
        .where(col(InboxRecord.consumer) == ProjectionVersion(1).scope)
    )
    return bool(applied)


def row_of(number: int) -> tuple[ColumnElement[bool], ...]:
    """Where-clauses of the row of version `number` of the dashboard's projection."""
    return (
        col(ReadModelVersion.projection) == PROJECTION,
        col(ReadModelVersion.version) == number,
    )


def _insert(number: int, state: State, *, built_by: int) -> Insert:
    now = _now()
    return insert(ReadModelVersion).values(
        projection=PROJECTION,
        version=number,
        state=state,
        built_by=built_by,
        started_at=now,
        activated_at=now if state == State.ACTIVE else None,
        retired_at=now if state == State.RETIRED else None,
    )
