"""Schema migrations: each service's revisions make exactly the tables its models describe (on
SQLite and PostgreSQL); a database made before migrations existed is migrated with every event
kept, and the service works on it; a service refuses a database that is behind."""

import asyncio
import base64
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from carepath.chassis.auth import Role
from carepath.chassis.database import create_engine
from carepath.chassis.schema import (
    UnknownSchema,
    UnmigratedSchema,
    migrate,
    require_current,
    revisions,
)
from carepath.chassis.store import EventStore
from support import ROOT, ServiceProcess, identity_env, token

pytestmark = pytest.mark.broker

SERVICES = ("intake", "eligibility", "session", "integration", "dashboard", "audit")
BEFORE = ROOT / "tests" / "fixtures" / "before_migrations" / "intake.sql"
KEK = base64.b64encode(bytes(range(32))).decode()  # the fixture's key-encryption key (a test's)


def carepath_migrate(
    *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`carepath-migrate` as operators run it (its own process: one service's models each)."""
    return subprocess.run(
        [sys.executable, "-m", "carepath.chassis.migrate_cli", *arguments],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_s_revisions_make_the_tables_of_its_models(
    service: str, database_url: str
) -> None:
    compared = carepath_migrate(service, "--compare-models", "--database-url", database_url)
    assert compared.returncode == 0, compared.stdout + compared.stderr


def before_migrations(folder: Path) -> str:
    """A SQLite intake database as the commit before migrations left it (see the fixture)."""
    path = folder / "intake.db"
    database = sqlite3.connect(path)
    database.executescript(BEFORE.read_text())
    database.close()
    return f"sqlite:///{path}"


async def stored(url: str) -> list[tuple[str, int, str]]:
    engine = create_engine(url)
    try:
        async with EventStore(engine).transaction() as session:
            rows = await session.execute(
                text("SELECT stream_id, sequence, event_id FROM event_store ORDER BY position")
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


async def test_a_database_from_before_migrations_keeps_every_event_and_serves(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    url = before_migrations(tmp_path)
    events_before = await stored(url)
    assert len(events_before) == 4  # three referrals and an intake form

    migrated = carepath_migrate("intake", "--database-url", url)
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated from no revision to 0001" in migrated.stdout
    again = carepath_migrate("intake", "--database-url", url)
    assert "already at revision" in again.stdout  # safe to repeat
    assert await stored(url) == events_before

    intake = ServiceProcess(
        "intake",
        "carepath.intake.app:create_app",
        {
            **identity_env(),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": url,
            "CAREPATH_VAR_DIR": str(tmp_path),
            "CAREPATH_KEK": KEK,  # the fixture's (identity_env gives a new one)
            "CAREPATH_MIGRATE_ON_START": "false",  # migrated above, as the Job before a rollout
        },
        tmp_path,
    ).start()
    try:
        coordinator = token(Role.INTAKE_COORDINATOR, "coordinator-after")
        [first, *_] = dict.fromkeys(stream for stream, _, _ in events_before)
        patient = first.removeprefix("intake-")
        async with httpx.AsyncClient(base_url=intake.url, headers=coordinator) as client:
            read = await client.get(f"/patients/{patient}")
            assert read.status_code == 200, read.text
            record = read.json()
            assert record["version"] == 2 and record["intake_form"] is not None
            assert record["referral"]["given_name"] == "Rosalind"  # sealed before, opened after
            consent = {"consent_version": "kap-consent-3.2", "consent_text_sha256": "0" * 64}
            given = await client.post(f"/patients/{patient}/consents", json=consent)
            assert given.status_code == 201, given.text
    finally:
        intake.stop()
    after = await stored(url)
    assert after[: len(events_before)] == events_before
    assert max(seq for s, seq, _ in after if s == first) == 3  # the stream went on from 2


async def test_a_service_refuses_a_database_that_is_behind_and_says_what_to_run(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    url = before_migrations(tmp_path)
    engine = create_engine(url)
    try:
        found = await revisions(engine, "intake")
    finally:
        await engine.dispose()
    assert found.current is None and found.head == "0001"
    intake = ServiceProcess(
        "intake",
        "carepath.intake.app:create_app",
        {
            **identity_env(),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": url,
            "CAREPATH_VAR_DIR": str(tmp_path),
            "CAREPATH_KEK": KEK,
            "CAREPATH_MIGRATE_ON_START": "false",
        },
        tmp_path,
    )
    with pytest.raises(AssertionError, match="exited"):
        intake.start(timeout=30)
    log = intake.log_path.read_text()
    assert "carepath-migrate intake" in log and "not migrated" in log
    checked = carepath_migrate("intake", "--check", "--database-url", url)
    assert checked.returncode == 1 and "at no revision, newest 0001" in checked.stdout


async def test_two_migrators_at_once_on_postgresql_take_turns(postgres_url: str) -> None:
    engines = [create_engine(postgres_url), create_engine(postgres_url)]
    try:
        first, second = await asyncio.gather(*(migrate(e, "dashboard") for e in engines))
        # One migrated from nothing; the other waited for it and found the database current.
        found = await revisions(engines[0], "dashboard")
        assert sorted([first.current or "", second.current or ""]) == ["", found.head]
        assert found.up_to_date
    finally:
        for engine in engines:
            await engine.dispose()


async def test_the_version_before_still_runs_on_a_database_a_newer_version_migrated(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    engine = create_engine(url)
    try:
        await migrate(engine, "intake")
        async with engine.begin() as connection:  # as if a newer release had added 0002
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        await require_current(engine, "intake")  # a rollback to this version starts
        before = await migrate(engine, "intake")  # and its migration leaves the database alone
        assert before.current == "9999" and before.ahead("intake")
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM alembic_version"))
        with pytest.raises(UnmigratedSchema, match="carepath-migrate intake"):
            await require_current(engine, "intake")
    finally:
        await engine.dispose()


def test_the_version_before_s_migrate_and_check_leave_a_newer_database_alone(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    assert carepath_migrate("intake", "--database-url", url).returncode == 0
    database = sqlite3.connect(tmp_path / "intake.db")
    database.execute("UPDATE alembic_version SET version_num = '9999'")
    database.commit()
    database.close()
    again = carepath_migrate("intake", "--database-url", url)  # an initContainer after rollback
    assert again.returncode == 0 and "left as it is" in again.stdout, again.stderr
    checked = carepath_migrate("intake", "--check", "--database-url", url)
    assert checked.returncode == 0 and "a newer version's" in checked.stdout


def test_compare_models_refuses_a_database_that_is_not_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    assert carepath_migrate("intake", "--database-url", url).returncode == 0
    refused = carepath_migrate("intake", "--compare-models", "--database-url", url)
    assert refused.returncode == 2 and "give it an empty one" in refused.stderr


@pytest.mark.parametrize(
    ("made_by", "lacks"),
    [
        ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)", "dead_letter, event_store"),
        (  # intake's tables from before migrations, but an event store without its evidence
            "DROP_COLUMNS",
            "event_store.prevhash, event_store.signature",
        ),
    ],
)
async def test_a_database_that_is_not_the_services_is_refused_unchanged(
    tmp_path: Path, made_by: str, lacks: str
) -> None:
    """Only a database the service made before migrations is taken to be at revision 0001."""
    url = before_migrations(tmp_path)
    path = url.removeprefix("sqlite:///")
    database = sqlite3.connect(path)
    if made_by == "DROP_COLUMNS":
        database.executescript(
            "ALTER TABLE event_store DROP COLUMN prevhash;"
            "ALTER TABLE event_store DROP COLUMN signature;"
        )
    else:
        tables = [
            row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        database.executescript("".join(f"DROP TABLE {table};" for table in tables) + made_by)
    database.commit()
    tables_before = sorted(
        row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type='table'")
    )
    database.close()

    engine = create_engine(url)
    try:
        with pytest.raises(UnknownSchema) as refused:
            await migrate(engine, "intake")
    finally:
        await engine.dispose()
    assert lacks in str(refused.value) and "nothing was changed" in str(refused.value)
    database = sqlite3.connect(path)
    tables_after = sorted(
        row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type='table'")
    )
    database.close()
    assert tables_after == tables_before  # no alembic_version, no new table
    by_hand = carepath_migrate("intake", "--database-url", url)
    assert by_hand.returncode == 2 and "Traceback" not in by_hand.stderr
    assert (
        f"intake: refused: the intake database has tables but no revision, and lacks {lacks}"
        in (by_hand.stderr)
    )
