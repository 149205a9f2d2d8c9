"""Settings and database URLs."""

from pathlib import Path

import pytest

from carepath.chassis.database import async_url
from carepath.chassis.settings import ServiceSettings


def test_without_database_url_a_service_uses_its_own_sqlite_file() -> None:
    settings = ServiceSettings(service_name="intake", var_dir=Path("var"))
    assert settings.resolved_database_url() == "sqlite:///var/intake.db"


def test_standard_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db/carepath")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092,kafka-1:9092")
    monkeypatch.setenv("CAREPATH_RELAY_BATCH_SIZE", "1000")
    settings = ServiceSettings(service_name="intake")
    assert settings.resolved_database_url() == "postgresql+psycopg://u@db/carepath"
    assert settings.kafka_bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert settings.relay_batch_size == 1000


@pytest.mark.parametrize(
    "configured, driver",
    [
        ("sqlite:///var/intake.db", "sqlite+aiosqlite:///var/intake.db"),
        ("postgresql://u:p@db/carepath", "postgresql+psycopg://u:p@db/carepath"),
        ("postgresql+psycopg://u:p@db/carepath", "postgresql+psycopg://u:p@db/carepath"),
    ],
)
def test_database_urls_map_to_async_drivers(configured: str, driver: str) -> None:
    assert async_url(configured) == driver


def test_an_unsupported_database_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="DATABASE_URL must be"):
        async_url("mysql://u@db/carepath")
