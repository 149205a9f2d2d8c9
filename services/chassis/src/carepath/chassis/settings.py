"""Service settings from the environment (`CAREPATH_*`, plus the standard Kafka/DB/OTel names)."""

import base64
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 32
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "replace", "dev-only")


LOOPBACK = ("localhost", "127.0.0.1", "[::1]", "::1")
# The relay producer's batch: above aiokafka's 16 KiB default, within a broker's default
# `message.max.bytes` (1 MiB + 12 bytes of overhead).
PRODUCER_BATCH_BYTES_MIN = 16_384
PRODUCER_BATCH_BYTES_MAX = 1_048_576


def is_placeholder(secret: str) -> bool:
    """Whether a secret is a placeholder someone forgot to replace."""
    return any(word in secret.lower() for word in PLACEHOLDER_WORDS)


def _decoded(value: str) -> str:
    """A base64 value as text (to spot a placeholder), or the value itself."""
    try:
        return base64.b64decode(value, validate=True).decode(errors="replace")
    except ValueError:
        return value


def _https_or_loopback(url: str) -> bool:
    parsed = urlsplit(url)
    return parsed.scheme == "https" or (
        parsed.scheme == "http" and (parsed.hostname or "") in LOOPBACK
    )


class ServiceSettings(BaseSettings):
    """What every CarePath service reads at start. Subclass to add a service's own settings."""

    model_config = SettingsConfigDict(env_prefix="CAREPATH_", extra="ignore")

    service_name: str = Field(description="Short name: intake, eligibility, ...")
    var_dir: Path = Field(default=Path("var"), description="Local state: SQLite files, dev keys.")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CAREPATH_DATABASE_URL"),
        description="sqlite:///path or postgresql+psycopg://...; unset: var/<service>.db",
    )
    kafka_bootstrap_servers: str = Field(
        default="localhost:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "CAREPATH_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = Field(default=None, description="SASL user (a Strimzi KafkaUser).")
    kafka_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_ca_file: Path | None = Field(default=None, description="CA of the brokers' TLS listener.")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body taken (413 beyond)."
    )
    dev_mode: bool = Field(
        default=False,
        description="Local runs only: accept no identity provider (the dev issuer under var/ "
        "signs and verifies tokens) and a missing DATABASE_URL (SQLite under var/).",
    )
    oidc_issuer: str = Field(
        default="carepath-dev-issuer",
        description="The identity provider's issuer (the tokens' `iss`); default: the dev issuer.",
    )
    oidc_jwks_url: str | None = Field(
        default=None,
        description="The provider's JWKS (its public signing keys); unset: the dev issuer's "
        "file under dev_issuer_dir (dev mode only).",
    )
    oidc_jwks_cooldown_seconds: float = Field(
        default=30,
        ge=0,
        description="Least time between two fetches of the JWKS for an unknown key id: a "
        "provider's new key is picked up within this time.",
    )
    oidc_audience: str | None = Field(
        default=None, description="This service's audience (`aud`); unset: carepath-<service>."
    )
    oidc_role_claim: str = Field(
        default="role", description="The claim holding the CarePath role (a string or a list)."
    )
    oidc_token_url: str | None = Field(
        default=None,
        description="The provider's token endpoint, for this service's own client-credentials "
        "tokens (it calls the key service); unset: the dev issuer signs them (dev mode only).",
    )
    oidc_client_id: str | None = Field(
        default=None, description="This service's OAuth client id; unset: carepath-<service>."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="This service's OAuth client secret."
    )
    dev_issuer_dir: Path | None = Field(
        default=None, description="The local dev issuer's keys; unset: var_dir/dev-issuer."
    )
    jwt_max_lifetime_hours: float = Field(
        default=12, gt=0, le=24, description="The longest a bearer token may live (exp - iat)."
    )
    keys_dir: Path = Field(
        default=Path("var/keys"),
        description="Where every service's public keys are published (shared, public keys "
        "only); a local run's generated signing key goes beside it, in `<keys_dir>.private/`.",
    )
    signing_key_file: Path | None = Field(
        default=None, description="This service's Ed25519 key (PEM); unset: a dev key in keys_dir."
    )
    envelope_version: int = Field(
        default=2,
        ge=1,
        le=2,
        description="The CloudEvents envelope new events are published in. 1 only while readers "
        "of the version before still run (they cannot read version 2): see deploy/README.md.",
    )
    owns_key_store: bool = Field(
        default=False,
        description="This service keeps the patients' data keys (intake); the others ask it.",
    )
    kek: SecretStr | None = Field(
        default=None,
        description="Key store only: the key-encryption key, base64 of 32 bytes; unset (and no "
        "kek_file): a dev key generated under var/.",
    )
    kek_file: Path | None = Field(
        default=None, description="Key store only: a file holding the key-encryption key."
    )
    kek_id: str = Field(
        default="configured", max_length=100, description="Name of the key-encryption key."
    )
    key_service_url: str = Field(
        default="http://127.0.0.1:8001",
        description="The key service (intake) that every other service asks for patients' keys.",
    )
    key_service_audience: str = Field(
        default="carepath-intake", description="The key service's audience (`aud`)."
    )
    key_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a patient's key is kept in memory; an erasure reaches every "
        "service within this time.",
    )
    clinic_timezone: str = Field(
        default="UTC",
        description="The clinic's IANA time zone (e.g. Europe/London): what 'today' means.",
    )
    relay_batch_size: int = Field(
        default=2000,
        ge=1,
        le=10_000,
        description="Events the relay reads, sends and marks at once.",
    )
    relay_poll_seconds: float = Field(default=0.5, gt=0)
    relay_max_backoff_seconds: float = Field(
        default=5.0, gt=0, description="Cap of the relay's growing wait while Kafka is away."
    )
    kafka_linger_ms: int = Field(default=5, ge=0)
    migrate_on_start: bool = Field(
        default=False,
        description="Migrate the database at start-up (local runs, tests); otherwise a database "
        "behind the service's newest revision stops it: run carepath-migrate first.",
    )
    trace_sql: bool = Field(
        default=True,
        description="A span per SQL statement (with its placeholders, never values) in the "
        "trace of the work that ran it.",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Logs as JSON lines with trace ids (json), or plain text to read by eye.",
    )
    kafka_producer_batch_bytes: int = Field(
        default=262_144,
        ge=PRODUCER_BATCH_BYTES_MIN,
        le=PRODUCER_BATCH_BYTES_MAX,
        description="Most bytes of one partition's records the relay's producer sends in one "
        "request; aiokafka's 16 KiB default holds 15 events, and it sends one request to a "
        "broker at a time. At most 1 MiB: a broker refuses a larger batch (its default "
        "message.max.bytes is 1048588), and every request with one.",
    )
    shutdown_seconds: float = Field(
        default=20.0,
        ge=5,
        le=600,
        description="The most a service takes to stop after SIGTERM, every step included "
        "(requests in flight, the relay's last batch, the consumers): the pod's grace period "
        "in deploy/ is this, its preStop wait and a margin.",
    )
    consumer_attempts: int = Field(
        default=3, ge=1, le=20, description="Tries of a failing record before it is dead-lettered."
    )
    consumer_backoff_seconds: float = Field(
        default=0.2, gt=0, description="Wait after a record's first failed try; doubles each try."
    )
    consumer_max_pause_seconds: float = Field(
        default=30.0, gt=0, description="Cap of a consumer's pause while its database is away."
    )

    @field_validator("kafka_producer_batch_bytes", mode="wrap")
    @classmethod
    def _batch_the_broker_takes(cls, value: object, handler: ValidatorFunctionWrapHandler) -> int:
        try:
            return int(handler(value))
        except ValidationError:
            raise ValueError(
                f"CAREPATH_KAFKA_PRODUCER_BATCH_BYTES must be a whole number of bytes from "
                f"{PRODUCER_BATCH_BYTES_MIN} to {PRODUCER_BATCH_BYTES_MAX} (a broker's default "
                f"message.max.bytes is 1048588: a larger batch fails every request), not {value!r}"
            ) from None

    @field_validator("clinic_timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/London"
            ) from None
        return value

    @property
    def clinic_zone(self) -> ZoneInfo:
        """The clinic's time zone."""
        return ZoneInfo(self.clinic_timezone)

    def unsafe(self) -> list[str]:
        """Why this configuration must not serve a clinic (empty: it may); ignored in dev mode."""
        if self.dev_mode:
            return []
        found = [*self._identity_problems(), *self._transport_problems()]
        if self.owns_key_store and self.kek is None and self.kek_file is None:
            found.append(
                "CAREPATH_KEK (or CAREPATH_KEK_FILE) is not set: patients' keys would be wrapped "
                "by a key made for this pod alone, unreadable once it is gone"
            )
        elif self.kek is not None and is_placeholder(_decoded(self.kek.get_secret_value())):
            found.append("CAREPATH_KEK is a placeholder, not a key")
        if not (self.database_url or "").strip():
            found.append("DATABASE_URL is not set (or empty)")
        return found

    def _identity_problems(self) -> list[str]:
        found = []
        if not (self.oidc_jwks_url or "").strip():
            found.append("CAREPATH_OIDC_JWKS_URL is not set (the identity provider's keys)")
        secret = (self.oidc_client_secret or SecretStr("")).get_secret_value().strip()
        if not self.owns_key_store and not (self.oidc_token_url and secret):
            found.append(
                "CAREPATH_OIDC_TOKEN_URL and CAREPATH_OIDC_CLIENT_SECRET are not set (this "
                "service's own token for the key service)"
            )
        if secret and len(secret) < MIN_SECRET_LENGTH:
            found.append(
                f"CAREPATH_OIDC_CLIENT_SECRET is shorter than {MIN_SECRET_LENGTH} characters"
            )
        elif is_placeholder(secret):
            found.append("CAREPATH_OIDC_CLIENT_SECRET is a placeholder, not a secret")
        for name, url in (("JWKS", self.oidc_jwks_url), ("TOKEN", self.oidc_token_url)):
            if url and not _https_or_loopback(url):
                found.append(
                    f"CAREPATH_OIDC_{name}_URL is not https: keys or tokens fetched in the "
                    "clear can be swapped on the way"
                )
        return found

    def _transport_problems(self) -> list[str]:
        hosts = [
            server.strip().rsplit(":", 1)[0] for server in self.kafka_bootstrap_servers.split(",")
        ]
        plain = self.kafka_security_protocol in ("PLAINTEXT", "SASL_PLAINTEXT")
        if plain and not all(host in LOOPBACK for host in hosts):
            return [
                f"CAREPATH_KAFKA_SECURITY_PROTOCOL is {self.kafka_security_protocol} to a broker "
                "off this machine: use SASL_SSL (or SSL)"
            ]
        return []

    def resolved_dev_issuer_dir(self) -> Path:
        """Where the local dev issuer keeps its keys."""
        return self.dev_issuer_dir or self.var_dir / "dev-issuer"

    def resolved_jwks_url(self) -> str:
        """The identity provider's JWKS: configured, or the dev issuer's file (a `file:` URL)."""
        if self.oidc_jwks_url:
            return self.oidc_jwks_url
        return (self.resolved_dev_issuer_dir() / "jwks.json").resolve().as_uri()

    def resolved_audience(self) -> str:
        """The `aud` a token must carry to be accepted by this service."""
        return self.oidc_audience or f"carepath-{self.service_name}"

    def resolved_client_id(self) -> str:
        """This service's OAuth client id at the identity provider."""
        return self.oidc_client_id or f"carepath-{self.service_name}"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an embedded SQLite file per service."""
        return self.database_url or f"sqlite:///{self.var_dir}/{self.service_name}.db"
