"""`carepath-migrate`: bring a service's database to its newest schema revision (Alembic).

    carepath-migrate intake                 # DATABASE_URL, else var/intake.db
    carepath-migrate intake --check         # exit 1 when the database is behind, change nothing
    carepath-migrate dashboard --new-revision "add the alerts' ward"   # for developers

Run it before a new version of the service starts (in Kubernetes, the chart's hook Job or the
pod's initContainer does); the service refuses to start on a database that is behind. Safe to
repeat.
"""

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from alembic import command
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from carepath.chassis import schema
from carepath.chassis.database import create_engine
from carepath.chassis.schema_scope import owned_by_revisions
from carepath.chassis.settings import ServiceSettings

T = TypeVar("T")

SERVICES = ("intake", "eligibility", "session", "integration", "dashboard", "audit")

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)


@app.command()
def migrate(
    service: Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)}")],
    database_url: Annotated[
        str | None,
        typer.Option(envvar="DATABASE_URL", help="default: sqlite:///var/<service>.db"),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="only say whether it is behind (exit 1), change nothing")
    ] = False,
    new_revision: Annotated[
        str | None,
        typer.Option(help="write a new revision from the service's models (developers)"),
    ] = None,
    compare_models: Annotated[
        bool,
        typer.Option(
            "--compare-models",
            help="migrate an EMPTY database (--database-url, default a scratch SQLite file) and "
            "list what the models have that the revisions do not (exit 1 if anything)",
        ),
    ] = False,
) -> None:
    """Upgrade SERVICE's database to its newest revision."""
    if service not in SERVICES:
        raise typer.BadParameter(f"{service!r} is not one of {', '.join(SERVICES)}")
    if new_revision is not None:
        print(f"wrote {write_revision(service, new_revision)}")
        return
    if compare_models:
        drift = differences(service, database_url)
        for difference in drift:
            print(f"{service}: the models differ from the revisions: {difference}")
        raise typer.Exit(1 if drift else 0)
    url = database_url or ServiceSettings(service_name=service).resolved_database_url()
    if check:
        found = _with_engine(url, lambda engine: schema.revisions(engine, service))
        ahead = found.ahead(service)
        later = " (a newer version's: this one runs on it)" if ahead else ""
        print(f"{service}: at {found.current or 'no revision'}{later}, newest {found.head}")
        raise typer.Exit(0 if found.up_to_date or ahead else 1)
    try:
        before = _with_engine(url, lambda engine: schema.migrate(engine, service))
    except schema.UnknownSchema as refused:
        print(f"{service}: refused: {refused}", file=sys.stderr)
        raise typer.Exit(2) from None
    if before.ahead(service):
        print(f"{service}: at {before.current}, a newer version's revision: left as it is")
    elif before.up_to_date:
        print(f"{service}: already at revision {before.head}")
    else:
        print(f"{service}: migrated from {before.current or 'no revision'} to {before.head}")


def _with_engine(url: str, use: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """`use` an engine on `url`, disposed of afterwards, in one event loop."""

    async def run() -> T:
        engine = create_engine(url)
        try:
            return await use(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def write_revision(service: str, message: str) -> Path:
    """A new revision of `service` with what its models have and its newest revision lacks,
    found on a scratch SQLite database at that revision."""
    import importlib

    importlib.import_module(f"carepath.{service}.app")  # registers the service's tables

    async def write(engine: AsyncEngine) -> Path:
        async with engine.begin() as connection:
            existing = sorted(schema.versions_dir(service).glob("[0-9]*.py"))
            if existing:
                await connection.run_sync(schema.upgrade, service)

            def revise(sync_connection: Connection) -> Path:
                alembic = schema.config(
                    service,
                    sync_connection,
                    target_metadata=SQLModel.metadata,
                    include_object=owned_by_revisions(SQLModel.metadata),
                )
                number = f"{len(existing) + 1:04d}"  # revisions in the order they were made
                script = command.revision(alembic, message, autogenerate=True, rev_id=number)
                assert script is not None and not isinstance(script, list)
                return Path(script.path)

            return await connection.run_sync(revise)

    with tempfile.TemporaryDirectory() as scratch:
        return _with_engine(f"sqlite:///{scratch}/scratch.db", write)


def differences(service: str, database_url: str | None = None) -> list[str]:
    """What `service`'s models have that an empty database migrated to its newest revision
    lacks (or the other way round); empty when a new revision is not needed."""
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    importlib.import_module(f"carepath.{service}.app")  # registers the service's tables

    async def compare(engine: AsyncEngine) -> list[str]:
        async with engine.begin() as connection:
            if await connection.run_sync(lambda c: inspect(c).get_table_names()):
                raise typer.BadParameter(
                    "--compare-models migrates the database it is given: give it an empty "
                    "one (--database-url), never a service's",
                    param_hint="--database-url",
                )
            await connection.run_sync(schema.upgrade, service)

            def diff(sync_connection: Connection) -> list[str]:
                # Tables the service makes itself (a versioned read model's) have no revisions.
                opts = {
                    "compare_type": True,
                    "include_object": owned_by_revisions(SQLModel.metadata),
                }
                context = MigrationContext.configure(sync_connection, opts=opts)
                return [repr(d) for d in compare_metadata(context, SQLModel.metadata)]

            return await connection.run_sync(diff)

    with tempfile.TemporaryDirectory() as scratch:
        return _with_engine(database_url or f"sqlite:///{scratch}/scratch.db", compare)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
