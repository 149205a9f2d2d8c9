"""Database engines: SQLite (embedded default, WAL) or PostgreSQL (production), both async."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, Table, TypeDecorator, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def async_url(url: str) -> str:
    """Map the configured URL onto an async driver: aiosqlite (SQLite) or psycopg 3 (PostgreSQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(
        f"DATABASE_URL must be sqlite:///... or postgresql+psycopg://..., not {parsed.drivername}"
    )


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url`. SQLite: WAL journal, writers serialised by BEGIN IMMEDIATE."""
    target = async_url(url)
    if make_url(target).get_backend_name() != "sqlite":
        return create_async_engine(
            target,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            hide_parameters=True,  # an error's text never quotes the values (patient data)
        )
    database = make_url(target).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(target, connect_args={"timeout": 30}, hide_parameters=True)
    _serialise_sqlite_writers(engine)
    return engine


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    # SQLite's default deferred transactions let two writers read the same stream version and
    # then fail to upgrade their lock; BEGIN IMMEDIATE makes the second wait and then see the
    # first's events, so the expected-version check is exact.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # What is deleted or overwritten (an erased patient's key) is zeroed, not left behind.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded rows usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def create_tables(engine: AsyncEngine) -> None:
    """Create every SQLModel table that is not there yet (event store, inbox, read models)."""
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)


async def upsert(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], *, update: bool = True
) -> None:
    """Write `rows` (each with every column of `table`) in one statement, executed for many:
    a row whose primary key exists already replaces it (`update`) or is left out."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
    keys = [column.name for column in table.primary_key]
    if update:
        replaced = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
        await session.execute(
            statement.on_conflict_do_update(index_elements=keys, set_=replaced), rows
        )
    else:
        await session.execute(statement.on_conflict_do_nothing(index_elements=keys), rows)
