"""Kafka wiring: the FastStream broker every service uses, and topic creation from the registry."""

import logging
import ssl
from collections.abc import Iterable
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError

from carepath.chassis.settings import ServiceSettings
from carepath.contracts import Topic

log = logging.getLogger(__name__)


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    """The service's broker: idempotent producer with `acks=all`, traced by OpenTelemetry.

    Idempotence keeps each partition's order even when the producer retries, which the outbox
    relay relies on when it sends a batch without waiting for each acknowledgement.
    """
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        security=broker_security(settings),
        client_id=f"carepath-{settings.service_name}",
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


def _ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return ssl.create_default_context(
        cafile=str(settings.kafka_ca_file) if settings.kafka_ca_file else None
    )


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream security for the configured listener: TLS and/or SASL (SCRAM for Strimzi
    KafkaUsers); None for a plaintext listener (local runs)."""
    protocol, context = settings.kafka_security_protocol, _ssl_context(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    if not settings.kafka_username or settings.kafka_password is None:
        raise ValueError(f"{protocol} needs CAREPATH_KAFKA_USERNAME and CAREPATH_KAFKA_PASSWORD")
    sasl = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
    return sasl[settings.kafka_sasl_mechanism](
        settings.kafka_username,
        settings.kafka_password.get_secret_value(),
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )


def client_config(settings: ServiceSettings) -> dict[str, Any]:
    """The same connection settings for kafka-python clients (admin, lag, auditors' reads)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL") and settings.kafka_ca_file:
        config["ssl_cafile"] = str(settings.kafka_ca_file)
    if settings.kafka_security_protocol.startswith("SASL"):
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_username
        config["sasl_plain_password"] = (
            settings.kafka_password.get_secret_value() if settings.kafka_password else None
        )
    return config


def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[Topic],
    *,
    partitions: int = 6,
    replication_factor: int = 1,
    timeout_s: float = 60.0,
) -> list[str]:
    """Create the topics that do not exist yet and wait until they have leaders; returns the
    names created. Safe to repeat."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="carepath-admin",
            bootstrap_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as error:
        raise RuntimeError(
            f"Kafka at {bootstrap_servers} did not answer within {timeout_s:.0f}s"
        ) from error
    with admin:
        existing = set(admin.list_topics())
        missing = {
            topic.name: {
                "num_partitions": partitions,
                "replication_factor": replication_factor,
                "configs": topic.config(),
            }
            for topic in topics
            if topic.name not in existing
        }
        if not missing:
            return []
        try:
            admin.create_topics(missing, wait_for_metadata=True)
        except TopicAlreadyExistsError:
            pass  # created by someone else meanwhile
        return sorted(missing)
