"""Schema migrations: one Alembic revision history per service, run by `carepath-migrate` (in
Kubernetes the chart's hook Job, or the pod's initContainer, before the service starts), never by
the tables' models at start-up. Revisions only add: expand now, contract in a later release, so
that the version before still runs on a migrated database (a rollback).

A service's revisions live in its package (`carepath/<service>/migrations/`); the environment is
shared (`migration_env/`). A service refuses to start on a database that is not at its newest
revision (`require_current`), unless told to migrate it itself (`CAREPATH_MIGRATE_ON_START`,
for local runs and tests). A database made before migrations existed (its tables created from the
models, no `alembic_version`) is taken to be at the first revision, then upgraded.
"""

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

ENVIRONMENT = Path(__file__).parent / "migration_env"
MIGRATION_LOCK_KEY = 0x0CA2E9A8  # advisory-lock id of a migration in progress (PostgreSQL)


class UnmigratedSchema(RuntimeError):
    """The database is not at the service's newest revision."""


class UnknownSchema(RuntimeError):
    """A database with tables but no revision, whose tables are not the first revision's: not
    one the service made before migrations existed. Nothing was changed in it."""


@dataclass(frozen=True)
class Revisions:
    """Where a database stands: its revision (None: none yet) and the service's newest."""

    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def ahead(self, service: str) -> bool:
        """At a revision this version does not know: a newer version migrated the database."""
        return self.current is not None and not _known(service, self.current)


def versions_dir(service: str) -> Path:
    """The service's revision history: `carepath/<service>/migrations/`."""
    package = importlib.import_module(f"carepath.{service}")
    [location] = package.__path__
    return Path(location) / "migrations"


def config(service: str, connection: Connection | None = None, **attributes: Any) -> Config:
    """Alembic's configuration for `service`, on `connection`."""
    alembic = Config()
    alembic.set_main_option("script_location", str(ENVIRONMENT))
    alembic.set_main_option("version_locations", str(versions_dir(service)))
    alembic.attributes["connection"] = connection
    alembic.attributes.update(attributes)
    return alembic


def _head(service: str) -> str:
    head = ScriptDirectory.from_config(config(service)).get_current_head()
    if head is None:
        raise UnmigratedSchema(f"{service} has no migrations under {versions_dir(service)}")
    return head


def _base(service: str) -> str:
    [base] = ScriptDirectory.from_config(config(service)).get_bases()
    return base


def _revisions(connection: Connection, service: str) -> Revisions:
    return Revisions(MigrationContext.configure(connection).get_current_revision(), _head(service))


async def revisions(engine: AsyncEngine, service: str) -> Revisions:
    """Where `engine`'s database stands for `service`."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revisions, service)


def upgrade(connection: Connection, service: str) -> Revisions:
    """`migrate` on a synchronous connection (inside Alembic's own tools)."""
    if connection.dialect.name == "postgresql":
        # Two migrators at once (pods of a rollout, a Job run twice) take turns: the second
        # finds the database current. The lock goes with the transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    before = _revisions(connection, service)
    if before.current is not None and not _known(service, before.current):
        # A newer version migrated it (revisions only add): this one leaves it as it is, so
        # that rolling back to it works (its initContainer, compose's one-shot, a rebuild).
        log.warning(
            "the %s database is at revision %s, newer than this version's %s: left as it is",
            service,
            before.current,
            before.head,
        )
        return before
    alembic = config(service, connection)
    if before.current is None and inspect(connection).get_table_names():
        # Made before migrations existed, by the models of the first revision: adopt it.
        _require_baseline(connection, service)
        command.stamp(alembic, _base(service))
    command.upgrade(alembic, "head")
    return before


async def migrate(engine: AsyncEngine, service: str) -> Revisions:
    """Upgrade `engine`'s database to `service`'s newest revision, in one transaction (on
    PostgreSQL; SQLite commits each step); returns where it stood before."""
    async with engine.begin() as connection:
        return await connection.run_sync(upgrade, service)


async def require_current(engine: AsyncEngine, service: str) -> None:
    """Raise `UnmigratedSchema`, saying what to run, unless the database is at the newest
    revision, or at one this version does not know: a newer version migrated it, and as
    revisions only add (expand, then contract in a later release), this one may still run on it,
    so that a rollback to it works."""
    found = await revisions(engine, service)
    if found.up_to_date:
        return
    if found.ahead(service):
        log.warning(
            "the %s database is at revision %s, newer than this version's %s: running on it",
            service,
            found.current,
            found.head,
        )
        return
    stands = f"at revision {found.current}" if found.current else "not migrated"
    raise UnmigratedSchema(
        f"the {service} database is {stands}; the service needs revision {found.head}: "
        f"run `carepath-migrate {service}` (in Kubernetes: the chart's migration Job, or the "
        "pod's migrate initContainer, runs it before the service)"
    )


def _require_baseline(connection: Connection, service: str) -> None:
    """Raise `UnknownSchema` unless the database has every table and column the first revision
    makes (names only: types are the dialect's). Tables of its own beside them are left alone."""
    wanted, found = _baseline_shape(service), _shape(connection)
    missing = [
        f"{table}.{column}" if table in found else table
        for table, columns in sorted(wanted.items())
        for column in (sorted(columns - found[table]) if table in found else [""])
    ]
    if missing:
        shown = ", ".join(name.rstrip(".") for name in missing[:10])
        raise UnknownSchema(
            f"the {service} database has tables but no revision, and lacks {shown}"
            f"{' ...' if len(missing) > 10 else ''} of revision {_base(service)}: it was not made "
            f"by the {service} service before migrations existed; nothing was changed"
        )


def _baseline_shape(service: str) -> dict[str, set[str]]:
    """The tables and columns of the service's first revision, made in a scratch database."""
    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as connection:
            command.upgrade(config(service, connection), _base(service))
            return _shape(connection)
    finally:
        scratch.dispose()


def _shape(connection: Connection) -> dict[str, set[str]]:
    tables = inspect(connection)
    return {
        table: {column["name"] for column in tables.get_columns(table)}
        for table in tables.get_table_names()
        if table != "alembic_version"
    }


def _known(service: str, revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(config(service)).get_revision(revision) is not None
    except CommandError:
        return False
