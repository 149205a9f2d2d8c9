"""The bench's own infrastructure: a Kafka broker and a PostgreSQL cluster on free ports, fresh
storage under var/bench/, always stopped on the way out."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BENCH_VAR = ROOT / "var" / "bench"
JARS = ROOT / "infra" / "kafka" / ".jars" / "*"

sys.path.insert(0, str(ROOT / "tests"))
from support import local_kafka  # noqa: E402  (tests/support.py: the broker on free ports)

__all__ = ["BENCH_VAR", "JARS", "ROOT", "bench_kafka", "bench_postgres", "fresh_database"]


@contextmanager
def bench_kafka() -> Iterator[str]:
    """A fresh local broker; yields its bootstrap address."""
    with local_kafka(BENCH_VAR / "kafka") as bootstrap:
        yield bootstrap


@contextmanager
def bench_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (infra/postgres/pg.sh); yields its SQLAlchemy URL."""
    env = {**os.environ, "PG_DATA_DIR": str(BENCH_VAR / "postgres")}
    script = ROOT / "infra" / "postgres" / "pg.sh"
    try:
        started = subprocess.run(  # noqa: S603 (fixed argv)
            [script, "start"], env=env, check=True, capture_output=True, text=True
        )
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "stop"], env=env, check=False)  # noqa: S603 (fixed argv)


def fresh_database(server_url: str, name: str) -> str:
    """An empty database `name` on the bench's PostgreSQL (dropped first if a run left it)."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
