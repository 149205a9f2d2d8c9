"""Versions of the read models: a changed projection builds new tables and swaps without downtime.

Each version of the projection (`models.RUNNING_VERSION`) has tables of its own, a Kafka consumer
group of its own (`carepath.dashboard`, then `carepath.dashboard.v2`, ...) and an inbox scope of
its own, so a new version reads every topic from offset 0 beside the old one, which keeps
serving. `read_model_version` records each version: `building` until its group has reached the
end of every partition once, then `active` (the version before it: `retired`). A building
dashboard is not ready (`/readyz` 503), so a rolling update keeps the old pods serving until the
new ones have caught up: that is the swap. `carepath-dashboard prune-read-models` drops a retired
version's tables later, never the active one's.

A version's tables are made by the dashboard itself when it starts (and by `rebuild`), not by an
Alembic revision: they are born empty, filled from the topics and dropped whole, never altered in
place, so they need no history; and making them is harmless to the version still running. Alembic
manages the registry (and version 1's tables, made by the baseline before versions existed).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Insert,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlmodel import Field, SQLModel, col

from carepath.chassis.database import UTCDateTime
from carepath.chassis.dead_letters import DeadLetterRecord
from carepath.chassis.inbox import InboxRecord
from carepath.contracts import CloudEvent
from carepath.dashboard.models import READ_MODEL_NAMES, READ_MODELS, RUNNING_VERSION, table_name

log = logging.getLogger(__name__)
T = TypeVar("T")

PROJECTION = "dashboard"
LOCK_KEY = 0x0CA2E9A9  # advisory-lock id of a change to the versions or their tables (PostgreSQL)
CATCH_UP_POLL_S = 1.0

Lag = dict[tuple[str, int], int]
"""Records not yet applied, per topic and partition."""


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


class VersionInUse(RuntimeError):
    """A version's tables cannot be dropped: it is the active one, or it still runs."""


def _now() -> datetime:
    return datetime.now(UTC)


def _lock(connection: Connection) -> None:
    """One change to the versions (or to their tables) at a time, across processes."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def make_tables(connection: Connection) -> None:
    """Make the running version's tables where they are not there yet (a new version's, or a
    pruned version run again)."""
    inspector = inspect(connection)
    if not all(inspector.has_table(name) for name in RUNNING.tables):
        _lock(connection)
        tables = [model.__table__ for model in READ_MODELS]  # type: ignore[attr-defined]
        SQLModel.metadata.create_all(connection, tables=tables, checkfirst=True)


class WithOwnTables:
    """The projection's effect, its version's tables made first (in its first batch's
    transaction: the consumer may start before anything else ran)."""

    def __init__(self, effect: Callable[[AsyncSession, Sequence[CloudEvent]], Awaitable[None]]):
        self._effect = effect
        self._made = False

    async def __call__(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        if not self._made:
            await session.run_sync(lambda sync: make_tables(sync.connection()))
            self._made = True
        await self._effect(session, events)


async def register(engine: AsyncEngine, version: ProjectionVersion = RUNNING) -> State:
    """Record that `version` runs; returns its state. The first version of a
    database is active at once (nothing else could serve); a later one builds until it has
    caught up. A version run again after it retired (a rollback) builds again."""
    async with engine.begin() as connection:
        await connection.run_sync(_lock)
        states = await _states(connection)
        if not states and version.number != 1 and await _projected_before_versions(connection):
            # Version 1 ran before versions were recorded: its tables are the ones serving.
            await connection.execute(_insert(1, State.ACTIVE))
            states[1] = State.ACTIVE
        if states.get(version.number) == State.ACTIVE:
            return State.ACTIVE
        others = [n for n, state in states.items() if n != version.number]
        state = State.BUILDING if any(states[n] == State.ACTIVE for n in others) else State.ACTIVE
        if version.number in states:
            now = _now()
            await connection.execute(
                update(ReadModelVersion)
                .where(*_is(version.number))
                .values(
                    state=state,
                    started_at=now,
                    activated_at=now if state == State.ACTIVE else None,
                    retired_at=None,
                )
            )
        else:
            await connection.execute(_insert(version.number, state))
        return state


async def activate(engine: AsyncEngine, version: ProjectionVersion = RUNNING) -> None:
    """`version` has caught up: it serves from now on, and the version that served retires."""
    async with engine.begin() as connection:
        await connection.run_sync(_lock)
        now = _now()
        await connection.execute(
            update(ReadModelVersion)
            .where(
                col(ReadModelVersion.projection) == PROJECTION,
                col(ReadModelVersion.version) != version.number,
                col(ReadModelVersion.state) == State.ACTIVE,
            )
            .values(state=State.RETIRED, retired_at=now)
        )
        await connection.execute(
            update(ReadModelVersion)
            .where(*_is(version.number))
            .values(state=State.ACTIVE, activated_at=now, retired_at=None)
        )


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


async def drop(engine: AsyncEngine, version: ProjectionVersion) -> None:
    """Drop `version`'s tables and forget what it applied; refused for the active version. Its
    consumer group must be deleted first (`carepath-dashboard prune-read-models` does), or a
    rerun of it would resume where it was, on empty tables."""
    async with engine.begin() as connection:
        await connection.run_sync(_lock)
        if (await _states(connection)).get(version.number) == State.ACTIVE:
            raise VersionInUse(f"read models v{version.number} are the active ones: they serve")
        for table in version.tables:
            await connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
        await connection.execute(
            delete(InboxRecord).where(col(InboxRecord.consumer) == version.scope)
        )
        await connection.execute(
            delete(DeadLetterRecord).where(col(DeadLetterRecord.consumer) == version.scope)
        )
        await connection.execute(delete(ReadModelVersion).where(*_is(version.number)))


async def _states(connection: AsyncConnection) -> dict[int, State]:
    rows = await connection.execute(
        select(col(ReadModelVersion.version), col(ReadModelVersion.state)).where(
            col(ReadModelVersion.projection) == PROJECTION
        )
    )
    return {number: State(state) for number, state in rows.all()}


async def _projected_before_versions(connection: AsyncConnection) -> bool:
    applied = await connection.scalar(
        select(func.count())
        .select_from(InboxRecord)
        .where(col(InboxRecord.consumer) == ProjectionVersion(1).scope)
    )
    return bool(applied)


def _is(number: int) -> tuple[ColumnElement[bool], ...]:
    return (
        col(ReadModelVersion.projection) == PROJECTION,
        col(ReadModelVersion.version) == number,
    )


def _insert(number: int, state: State) -> Insert:
    now = _now()
    return insert(ReadModelVersion).values(
        projection=PROJECTION,
        version=number,
        state=state,
        started_at=now,
        activated_at=now if state == State.ACTIVE else None,
    )


@dataclass
class Readiness:
    """Whether this process's version may serve: at once when it is the active version, else
    once its consumer group has applied every partition to its end at least once (then it is
    made active). Until then `/readyz` says how far behind it is."""

    engine: AsyncEngine
    lag: Callable[[], Lag]
    version: ProjectionVersion = RUNNING
    every_s: float = CATCH_UP_POLL_S
    state: State | None = None
    behind: int | None = None
    _reached_end: set[tuple[str, int]] = field(default_factory=set)

    @property
    def ready(self) -> bool:
        return self.state == State.ACTIVE

    def describe(self) -> str:
        """What `/readyz` says while it is not ready."""
        v = f"v{self.version.number}"
        if self.state is None:
            return f"recording read models {v}"
        behind = "lag not known yet" if self.behind is None else f"{self.behind} behind"
        return f"building read models {v}: {behind}"

    async def run(self) -> None:
        """Make the version's tables and record it, then watch it catch up (a background task
        of the service)."""
        await self._retrying(self._make_tables)
        self.state = await self._retrying(lambda: register(self.engine, self.version))
        while self.state != State.ACTIVE:
            await asyncio.sleep(self.every_s)
            await self.look()

    async def look(self) -> None:
        """One look: made active by another replica, or caught up now."""
        if await self._retrying(lambda: state_of(self.engine, self.version)) == State.ACTIVE:
            self.state = State.ACTIVE
            return
        try:
            lag = await asyncio.to_thread(self.lag)
        except Exception as error:  # the brokers away: look again later
            log.warning("lag of read models v%d unknown (%s)", self.version.number, error)
            return
        self.behind = sum(lag.values())
        self._reached_end.update(partition for partition, left in lag.items() if left == 0)
        if lag and self._reached_end >= lag.keys():
            await self._retrying(lambda: activate(self.engine, self.version))
            self.state = State.ACTIVE
            log.info("read models v%d caught up: active", self.version.number)

    async def _make_tables(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(make_tables)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        delay = 0.5
        while True:
            try:
                return await call()
            except Exception as error:  # the database away: the service waits for it
                log.warning("read-model versions unavailable (%s)", type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
