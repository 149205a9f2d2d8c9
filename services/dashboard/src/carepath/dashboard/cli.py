"""`carepath-dashboard`: run the dashboard, rebuild its read models from offset 0, compare two
sets of read models row for row, list, prune and reinstate the versions of the read models."""

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from kafka import KafkaAdminClient
from rich.console import Console
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, col

from carepath.chassis import schema
from carepath.chassis.database import create_engine
from carepath.chassis.evidence import Verifier
from carepath.chassis.evidence_pool import EvidencePool, provenance_problems
from carepath.chassis.faults import is_transient
from carepath.chassis.inbox import Inbox, InboxRecord
from carepath.chassis.kafka import client_config
from carepath.chassis.replay import ReplayedRecord, ReplayError, TopicReplay, with_progress
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import CloudEvent
from carepath.contracts.topics import SUBSCRIPTIONS
from carepath.dashboard import retirement, versions
from carepath.dashboard.models import READ_MODELS
from carepath.dashboard.projection import project

app = typer.Typer(add_completion=False, help=__doc__)
console = Console(stderr=True)
CONSUMER = "dashboard"
BATCH = 5000  # events per transaction of the rebuild: one SELECT and one upsert per table


@app.callback(invoke_without_command=True)
def serve(context: typer.Context) -> None:
    """Without a command: run the dashboard service (port 8000), like every CarePath service."""
    if context.invoked_subcommand is None:
        from carepath.dashboard.app import main as run

        run()


@app.command()
def rebuild(
    database_url: Annotated[
        str, typer.Option("--database", envvar="DATABASE_URL", help="Read models to rebuild.")
    ] = ("sqlite:///var/dashboard.db"),
    bootstrap_servers: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS")
    ] = "localhost:9092",
    keys_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="CAREPATH_KEYS_DIR",
            help="The services' public keys (as the live dashboard's); default: var/keys.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Processes checking signatures (default: one per core; 0: none)."),
    ] = None,
) -> None:
    """Drop the read models and replay every topic from offset 0 into them."""
    settings = ServiceSettings(service_name=CONSUMER, kafka_bootstrap_servers=bootstrap_servers)
    keys = keys_dir or settings.keys_dir
    if not Verifier.from_directory(keys, strict=False).services:  # it would skip every record
        console.print(f"[red]no public keys in {keys}[/red]: pass --keys-dir", highlight=False)
        raise typer.Exit(2)
    try:
        with (
            EvidencePool(keys, workers) as pool,  # forked before the Kafka client starts
            TopicReplay(settings, [t.name for t in SUBSCRIPTIONS[CONSUMER]]) as replay,
        ):
            applied, skipped = asyncio.run(_rebuild(database_url, replay, pool))
    except ReplayError as error:
        console.print(f"[red]cannot replay[/red] {error}", highlight=False)
        raise typer.Exit(2) from error
    console.print(
        f"rebuilt: {applied} events applied, {skipped} unreadable or unverified records skipped"
    )


async def _rebuild(database_url: str, replay: TopicReplay, pool: EvidencePool) -> tuple[int, int]:
    engine = create_engine(database_url)
    try:
        await schema.migrate(engine, "dashboard")  # a new database, or one behind: made current
        async with engine.begin() as connection:
            await connection.run_sync(versions.make_tables)  # this version's, where not there yet
            for model in READ_MODELS:
                await connection.execute(delete(model))
            await connection.execute(
                delete(InboxRecord).where(col(InboxRecord.consumer) == versions.RUNNING.scope)
            )
        inbox, applied, skipped = Inbox(engine, versions.RUNNING.scope), 0, 0
        events: list[CloudEvent] = []
        # As the live consumer: a record that is no CloudEvent, or not signed by a service that
        # may produce it there, is skipped (the live one dead-letters it before applying it).
        for record, problem in pool.checked(
            provenance_problems, with_progress(replay, console), _topic_and_value
        ):
            if problem is None:
                events.append(CloudEvent.from_json(record.value or b""))
            else:
                skipped += 1
            if len(events) == BATCH:
                applied, events = applied + await _apply(inbox, events), []
        return applied + await _apply(inbox, events), skipped
    finally:
        await engine.dispose()


def _topic_and_value(record: ReplayedRecord) -> tuple[str, bytes | None]:
    return record.topic, record.value


async def _apply(inbox: Inbox, events: list[CloudEvent]) -> int:
    try:
        return len(await inbox.apply_batch(events, project))
    except Exception as error:
        if is_transient(error):
            raise
        # As the live consumer does with its dead-letter topic: apply the others, skip the culprit.
        total = 0
        for event in events:
            try:
                total += len(await inbox.apply_batch([event], project))
            except Exception as culprit:
                if is_transient(culprit):
                    raise
        return total


@app.command()
def compare(first: str, second: str) -> None:
    """Compare the read models of two databases row for row; exit 1 on any difference."""
    differences = asyncio.run(read_model_differences(first, second))
    for line in differences[:50]:
        console.print(line)
    if differences:
        console.print(f"{len(differences)} differences")
        raise typer.Exit(1)
    console.print("the read models are identical")


async def read_model_differences(first: str, second: str) -> list[str]:
    """Every row that differs between the read models of two databases."""
    engines = create_engine(first), create_engine(second)
    try:
        differences = []
        for model in READ_MODELS:
            left, right = await _rows(engines[0], model), await _rows(engines[1], model)
            for key in sorted(left.keys() | right.keys(), key=str):
                if left.get(key) != right.get(key):
                    differences.append(
                        f"{model.__tablename__} {key}: {left.get(key)} != {right.get(key)}"
                    )
        return differences
    finally:
        for engine in engines:
            await engine.dispose()


async def _rows(engine: AsyncEngine, model: type[SQLModel]) -> dict[Any, dict[str, Any]]:
    key = next(iter(model.__table__.primary_key)).name  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        rows = (await connection.execute(select(model.__table__))).mappings()  # type: ignore[attr-defined]
        return {row[key]: _normalised(dict(row)) for row in rows}


def _normalised(row: dict[str, Any]) -> dict[str, Any]:
    # SQLite keeps no time zone; compare instants, not representations.
    return {
        k: (v.replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo else v)
        for k, v in row.items()
    }


@app.command("read-model-versions")
def read_model_versions(
    database_url: Annotated[str, typer.Option("--database", envvar="DATABASE_URL")] = (
        "sqlite:///var/dashboard.db"
    ),
) -> None:
    """List the versions of the read models: building, active (serving) or retired, and the
    projection code (its `PROJECTION_VERSION`) that built each."""
    for row in asyncio.run(_versions(database_url)):
        print(
            f"v{row.version}\t{row.state}\tbuilt by projection v{row.built_by}"
            f"\tstarted {row.started_at:%Y-%m-%d %H:%M:%S}"
        )


async def _versions(database_url: str) -> list[versions.ReadModelVersion]:
    engine = create_engine(database_url)
    try:
        return await versions.versions(engine)
    finally:
        await engine.dispose()


@app.command("prune-read-models")
def prune_read_models(
    numbers: Annotated[
        list[int] | None,
        typer.Argument(
            metavar="[VERSION]...", help="Versions to drop (default: every retired one)."
        ),
    ] = None,
    database_url: Annotated[str, typer.Option("--database", envvar="DATABASE_URL")] = (
        "sqlite:///var/dashboard.db"
    ),
    bootstrap_servers: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS")
    ] = "localhost:9092",
) -> None:
    """Drop old versions' read models: their tables, what their consumer applied and their
    consumer group. Refused for the active version, and for one still running."""
    settings = ServiceSettings(service_name=CONSUMER, kafka_bootstrap_servers=bootstrap_servers)
    try:
        dropped = asyncio.run(_prune(database_url, client_config(settings), numbers))
    except retirement.VersionInUse as refused:
        console.print(f"[red]refused[/red]: {refused}", highlight=False)
        raise typer.Exit(1) from refused
    console.print(
        f"dropped read models {', '.join(f'v{n}' for n in dropped)}"
        if dropped
        else "no retired read models to drop"
    )


async def _prune(database_url: str, config: dict[str, Any], numbers: list[int] | None) -> list[int]:
    engine = create_engine(database_url)
    try:
        recorded = {row.version: row.state for row in await versions.versions(engine)}
        wanted = numbers or [n for n, state in recorded.items() if state == versions.State.RETIRED]
        for number in wanted:
            version = versions.ProjectionVersion(number)

            async def forget_group(version: versions.ProjectionVersion = version) -> None:
                await asyncio.to_thread(forget_consumer_group, config, version)

            # The state checked, the group deleted and the tables dropped under one lock.
            await retirement.drop(engine, version, forget_group)
        return wanted
    finally:
        await engine.dispose()


@app.command("reinstate-read-models")
def reinstate_read_models(
    number: Annotated[int, typer.Argument(metavar="VERSION", help="The retired version.")],
    database_url: Annotated[str, typer.Option("--database", envvar="DATABASE_URL")] = (
        "sqlite:///var/dashboard.db"
    ),
) -> None:
    """A rollback: make a retired version of the read models serve again, at once (its pods
    become ready, the active version's stop serving). A retired version never does by itself."""
    try:
        asyncio.run(_reinstate(database_url, versions.ProjectionVersion(number)))
    except retirement.NotReinstatable as refused:
        console.print(f"[red]refused[/red]: {refused}", highlight=False)
        raise typer.Exit(1) from refused
    console.print(f"read models v{number} are the active ones")


async def _reinstate(database_url: str, version: versions.ProjectionVersion) -> None:
    engine = create_engine(database_url)
    try:
        await retirement.reinstate(engine, version)
    finally:
        await engine.dispose()


def forget_consumer_group(config: dict[str, Any], version: versions.ProjectionVersion) -> None:
    """Delete the version's consumer group, so that a version run again reads from offset 0
    into its new, empty tables. The brokers refuse while a consumer of it is still there."""
    admin = KafkaAdminClient(**config, client_id="carepath-dashboard-prune")
    try:
        outcome = admin.delete_groups([version.group]).get(version.group)
    finally:
        admin.close()
    if outcome == "NonEmptyGroupError":
        raise retirement.VersionInUse(
            f"read models v{version.number} are still being read (consumer group "
            f"{version.group} has members): stop that version's dashboards first"
        )
    if outcome not in ("OK", "GroupIdNotFoundError"):
        raise RuntimeError(f"could not delete consumer group {version.group}: {outcome}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
