"""deploy/compose.yaml runs every service from its own Dockerfile, next to Kafka and PostgreSQL."""

from types import ModuleType

import yaml
from conftest import DEPLOY

from support import ROOT


def test_compose_runs_every_service_on_its_port_with_its_own_database(
    generator: ModuleType,
) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert compose["kafka"]["image"].startswith("apache/kafka:")
    assert compose["postgres"]["image"] == "postgres:16"
    init = (DEPLOY / "compose" / "postgres-init.sql").read_text()
    for service in generator.SERVICES:
        entry = compose[service.name]
        assert (ROOT / entry["build"]["dockerfile"]).exists()
        assert entry["ports"] == [f"127.0.0.1:{service.port}:{service.port}"]
        database = f"carepath_{service.name}"
        assert entry["environment"]["DATABASE_URL"].endswith(f"@postgres:5432/{database}")
        assert f"CREATE DATABASE {database} OWNER {database};" in init
    assert compose["dashboard"]["ports"] == ["127.0.0.1:8000:8000"]
