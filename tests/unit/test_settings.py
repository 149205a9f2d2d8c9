"""Settings and database URLs."""

import base64
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from carepath.chassis.database import async_url
from carepath.chassis.runtime import ServiceRuntime, UnsafeConfiguration
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


def test_a_strimzi_user_connects_with_scram_over_tls() -> None:
    from faststream.security import SASLScram512

    from carepath.chassis.kafka import broker_security, client_config

    settings = ServiceSettings(
        service_name="intake",
        kafka_security_protocol="SASL_SSL",
        kafka_username="carepath-intake",
        kafka_password="s3cret",
    )
    security = broker_security(settings)
    assert isinstance(security, SASLScram512) and security.use_ssl
    config = client_config(settings)
    assert (
        config["security_protocol"],
        config["sasl_mechanism"],
        config["sasl_plain_username"],
    ) == ("SASL_SSL", "SCRAM-SHA-512", "carepath-intake")


def test_sasl_without_credentials_is_a_clear_error() -> None:
    from carepath.chassis.kafka import broker_security

    with pytest.raises(ValueError, match="CAREPATH_KAFKA_USERNAME"):
        broker_security(
            ServiceSettings(service_name="intake", kafka_security_protocol="SASL_PLAINTEXT")
        )


def test_local_runs_use_plaintext() -> None:
    from carepath.chassis.kafka import broker_security

    assert broker_security(ServiceSettings(service_name="intake")) is None


SAFE = {
    "oidc_jwks_url": "https://idp.clinic.example/realms/carepath/protocol/openid-connect/certs",
    "oidc_token_url": "https://idp.clinic.example/realms/carepath/protocol/openid-connect/token",
    "oidc_client_secret": "a-random-client-secret-4f9c2b7e1d3a5c8e0b6f",
    "DATABASE_URL": "postgresql+psycopg://eligibility:pw@db/eligibility",
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"oidc_jwks_url": None}, "CAREPATH_OIDC_JWKS_URL is not set"),
        ({"oidc_jwks_url": ""}, "CAREPATH_OIDC_JWKS_URL is not set"),
        ({"oidc_token_url": None}, "CAREPATH_OIDC_TOKEN_URL and CAREPATH_OIDC_CLIENT_SECRET"),
        ({"oidc_client_secret": ""}, "CAREPATH_OIDC_TOKEN_URL and CAREPATH_OIDC_CLIENT_SECRET"),
        ({"oidc_client_secret": "short-key"}, "shorter than 32"),
        (
            {"oidc_client_secret": "REPLACE-ME-with-a-random-key-of-at-least-32-bytes"},
            "placeholder",
        ),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": None}, "DATABASE_URL is not set"),
        ({"oidc_jwks_url": "http://idp.clinic.example/certs"}, "JWKS_URL is not https"),
        ({"oidc_token_url": "http://idp.clinic.example/token"}, "TOKEN_URL is not https"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "kafka.clinic.example:9092"}, "PLAINTEXT to a broker off"),
        (
            {"KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "kafka_security_protocol": "SASL_PLAINTEXT"},
            "SASL_PLAINTEXT to a broker off",
        ),
        (
            {"oidc_client_secret": "dev-only-compose-client-secret-0123456789abc"},
            "placeholder",
        ),
    ],
)
def test_a_service_refuses_to_start_with_an_unsafe_setting(
    change: dict[str, str | None], reason: str
) -> None:
    settings = ServiceSettings.model_validate({"service_name": "eligibility", **SAFE, **change})
    with pytest.raises(UnsafeConfiguration, match=reason):
        ServiceRuntime(settings)


def test_dev_mode_accepts_what_a_local_run_uses(tmp_path: Path) -> None:
    settings = ServiceSettings(service_name="intake", var_dir=tmp_path, dev_mode=True)
    assert settings.unsafe() == []
    assert ServiceSettings.model_validate({"service_name": "eligibility", **SAFE}).unsafe() == []
    key_service = {"service_name": "intake", "owns_key_store": True, **SAFE, "kek": KEK}
    del key_service["oidc_token_url"], key_service["oidc_client_secret"]
    assert ServiceSettings.model_validate(key_service).unsafe() == []  # it calls no one
    loopback = {**SAFE, "oidc_jwks_url": "http://127.0.0.1:8009/jwks.json"}  # a local issuer
    assert ServiceSettings.model_validate({"service_name": "x", **loopback}).unsafe() == []


KEK = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("kek", "reason"),
    [
        ({}, "CAREPATH_KEK \\(or CAREPATH_KEK_FILE\\) is not set"),
        ({"kek": base64.b64encode(b"dev-only-kek-change-me-012345678").decode()}, "placeholder"),
    ],
)
def test_the_key_service_refuses_to_start_without_a_real_kek(
    kek: dict[str, str], reason: str
) -> None:
    settings = ServiceSettings.model_validate(
        {"service_name": "intake", "owns_key_store": True, **SAFE, **kek}
    )
    assert any(re.search(reason, problem) for problem in settings.unsafe())


def test_the_dashboard_refuses_a_placeholder_csrf_key() -> None:
    from carepath.dashboard.app import DashboardSettings

    placeholder = "REPLACE-ME: 48 random bytes, base64 (openssl rand -base64 48)"  # the base's
    settings = DashboardSettings.model_validate(
        {"service_name": "dashboard", **SAFE, "csrf_key": placeholder}
    )
    assert "CAREPATH_CSRF_KEY is a placeholder, not a key" in settings.unsafe()
    real = settings.model_copy(update={"csrf_key": SecretStr("k" * 20 + "4f9c2b7e1d3a5c8e0b6f")})
    assert real.unsafe() == []


@pytest.mark.parametrize("configured", ["2000000", "1048589", "4096", "a lot"])
def test_a_producer_batch_the_broker_would_refuse_is_a_clear_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    monkeypatch.setenv("CAREPATH_KAFKA_PRODUCER_BATCH_BYTES", configured)
    with pytest.raises(
        ValueError,
        match=r"CAREPATH_KAFKA_PRODUCER_BATCH_BYTES must be .* from "
        r"16384 to 1048576",
    ) as refused:
        ServiceSettings(service_name="intake")
    assert configured in str(refused.value)


@pytest.mark.parametrize("configured", ["16384", "1048576"])
def test_a_producer_batch_within_the_broker_s_limit_is_taken(
    monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    monkeypatch.setenv("CAREPATH_KAFKA_PRODUCER_BATCH_BYTES", configured)
    assert ServiceSettings(service_name="intake").kafka_producer_batch_bytes == int(configured)
