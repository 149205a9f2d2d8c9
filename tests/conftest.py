"""Session-wide real infrastructure: one Kafka broker and one PostgreSQL cluster per test run.

Kafka: `KAFKA_BOOTSTRAP_SERVERS` when set; else testcontainers' Kafka module when a Docker engine
answers; else the local broker of infra/kafka (Apache Kafka jars from Maven Central).
PostgreSQL: `CAREPATH_TEST_POSTGRES_URL` when set; else the throwaway cluster of infra/postgres.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.kafka import ensure_topics
from carepath.contracts import ALL_TOPICS
from carepath.contracts.topics import dead_letter_topics
from support import (
    ROOT,
    TEST_VAR,
    ServiceProcess,
    docker_engine_answers,
    identity_env,
    local_kafka,
)

sys.path.insert(0, str(ROOT / "tests" / "with_broker"))  # the scripted clinic staff, for e2e too

# Services under test migrate their new databases as they start (what `carepath-migrate` does
# before a rollout); tests/with_broker/test_migrations.py sees them refuse when it is off.
os.environ.setdefault("CAREPATH_MIGRATE_ON_START", "true")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap address of a real Kafka broker, with every registry topic created."""
    if configured := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        ensure_topics(configured, ALL_TOPICS + dead_letter_topics())
        yield configured
    elif docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            ensure_topics(bootstrap, ALL_TOPICS + dead_letter_topics())
            yield bootstrap
    else:
        with local_kafka(TEST_VAR / "kafka") as bootstrap:
            ensure_topics(bootstrap, ALL_TOPICS + dead_letter_topics())
            yield bootstrap


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a real PostgreSQL server's `carepath` database."""
    if configured := os.environ.get("CAREPATH_TEST_POSTGRES_URL"):
        yield configured
        return
    env = {**os.environ, "PG_DATA_DIR": str(TEST_VAR / "postgres")}
    script = ROOT / "infra" / "postgres" / "pg.sh"
    started = subprocess.run([script, "start"], env=env, check=True, capture_output=True, text=True)
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=env, check=False)


def _fresh_postgres_database(server_url: str) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_sync_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty PostgreSQL database."""
    return _fresh_postgres_database(postgres_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: once on SQLite (a file), once on PostgreSQL (a new database)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return _fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[object]:
    """An async engine on `database_url` with every table created."""
    engine = create_engine(database_url)
    await create_tables(engine)
    yield engine
    await engine.dispose()


KEYS_DIR = TEST_VAR / "keys"  # every service under test publishes its public key here


def _service(
    name: str,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
    key_service_url: str | None = None,
) -> ServiceProcess:
    work = tmp_path_factory.mktemp(name)
    keys = {"CAREPATH_KEY_SERVICE_URL": key_service_url} if key_service_url else {}
    return ServiceProcess(
        name,
        f"carepath.{name}.app:create_app",
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": f"sqlite:///{work / f'{name}.db'}",
            "CAREPATH_VAR_DIR": str(work),
            **identity_env(),
            "CAREPATH_KEYS_DIR": str(KEYS_DIR),
            **keys,
        },
        work,
    )


def _service_fixture(name: str, what: str) -> Any:
    """A session-scoped fixture running one service as its own process."""

    @pytest.fixture(scope="session", name=f"{name}_service")
    def running(
        kafka_bootstrap: str,
        tmp_path_factory: pytest.TempPathFactory,
        request: pytest.FixtureRequest,
    ) -> Iterator[ServiceProcess]:
        # Every other service asks intake (the key service) for patients' data keys.
        key_service = None if name == "intake" else request.getfixturevalue("intake_service").url
        service = _service(name, kafka_bootstrap, tmp_path_factory, key_service).start()
        yield service
        service.stop()

    running.__doc__ = f"The {name} service as its own process: {what}."
    return running


intake_service = _service_fixture("intake", "referral, forms, assessments, consent")
eligibility_service = _service_fixture("eligibility", "consumes the intake topic")
session_service = _service_fixture("session", "consumes the eligibility and intake topics")
integration_service = _service_fixture("integration", "consumes the intake and session topics")
dashboard_service = _service_fixture("dashboard", "projects every topic into its read models")
audit_service = _service_fixture("audit", "projects every topic into the trail")
