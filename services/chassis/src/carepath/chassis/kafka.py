"""Kafka wiring: the FastStream broker every service uses, and topic creation from the registry."""

import logging
import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from kafka import KafkaAdminClient
from kafka.errors import AuthorizationError, KafkaError, TopicAlreadyExistsError

from carepath.chassis.settings import ServiceSettings
from carepath.contracts import Topic

log = logging.getLogger(__name__)


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    """The service's broker: idempotent producer with `acks=all`, traced by OpenTelemetry.

    Idempotence keeps each partition's order even when the producer retries, which the outbox
    relay relies on when it sends a batch without waiting for each acknowledgement.
    """
    return KafkaBroker(
        _bootstrap_servers(settings),
        security=broker_security(settings),
        client_id=f"carepath-{settings.service_name}",
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """The outbox relay's producer: the broker's connection and guarantees (idempotent,
    `acks=all`), lingering `kafka_linger_ms` so that a partition's records travel in batches.
    Make it inside the running event loop."""
    config = client_config(settings)
    config.pop("ssl_cafile", None)  # aiokafka takes an SSL context instead
    config["bootstrap_servers"] = _bootstrap_servers(settings)
    return AIOKafkaProducer(
        **config,
        ssl_context=_ssl_context(settings),
        client_id=f"carepath-{settings.service_name}-relay",
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_producer_batch_bytes,
    )


def _bootstrap_servers(settings: ServiceSettings) -> list[str]:
    # a list: aiokafka takes a comma-separated string as one host name
    return [server.strip() for server in settings.kafka_bootstrap_servers.split(",")]


def _ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return ssl.create_default_context(cafile=_ca_file(settings))


def _sasl_credentials(settings: ServiceSettings) -> tuple[str, str]:
    """The SASL user and password; a clear error naming the settings when one is missing."""
    if not settings.kafka_username or settings.kafka_password is None:
        protocol = settings.kafka_security_protocol
        raise ValueError(f"{protocol} needs CAREPATH_KAFKA_USERNAME and CAREPATH_KAFKA_PASSWORD")
    return settings.kafka_username, settings.kafka_password.get_secret_value()


def _ca_file(settings: ServiceSettings) -> str | None:
    """The configured CA file of the TLS listener; a clear error when it is not there."""
    if settings.kafka_ca_file is None:
        return None
    if not settings.kafka_ca_file.is_file():
        raise ValueError(f"CAREPATH_KAFKA_CA_FILE {settings.kafka_ca_file} is not a file")
    return str(settings.kafka_ca_file)


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream security for the configured listener: TLS and/or SASL (SCRAM for Strimzi
    KafkaUsers); None for a plaintext listener (local runs)."""
    protocol, context = settings.kafka_security_protocol, _ssl_context(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username, password = _sasl_credentials(settings)
    sasl = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
    return sasl[settings.kafka_sasl_mechanism](
        username,
        password,
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )


def client_config(settings: ServiceSettings) -> dict[str, Any]:
    """The same connection settings for kafka-python clients (admin, lag, auditors' reads); a
    clear ValueError when the security settings are incomplete."""
    protocol = settings.kafka_security_protocol
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL") and (ca_file := _ca_file(settings)):
        config["ssl_cafile"] = ca_file
    if protocol.startswith("SASL"):
        username, password = _sasl_credentials(settings)
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = username
        config["sasl_plain_password"] = password
    return config


def ensure_topics(
    kafka: ServiceSettings | str,
    topics: Iterable[Topic],
    *,
    partitions: int = 6,
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
    timeout_s: float = 60.0,
) -> list[str]:
    """Create the topics that do not exist yet and wait until they have leaders; returns the
    names created. Safe to repeat; topics that exist are left as they are.

    `kafka` is the connection: settings (`client_config`: TLS/SASL as configured; on a secured
    cluster a user allowed to create topics), or a bare bootstrap address of a plaintext listener.
    `min_insync_replicas` (default: min(2, replication_factor)) becomes the topic's
    `min.insync.replicas`: with the producers' `acks=all`, an event counts as published only once
    that many replicas hold it, so losing one broker of three loses no acknowledged event.
    """
    if replication_factor < 1:
        raise ValueError(f"replication_factor must be at least 1, not {replication_factor}")
    min_isr = min(2, replication_factor) if min_insync_replicas is None else min_insync_replicas
    if not 1 <= min_isr <= replication_factor:
        raise ValueError(
            f"min_insync_replicas must be between 1 and the replication factor "
            f"{replication_factor}, not {min_isr}"
        )
    config = (
        client_config(kafka) if isinstance(kafka, ServiceSettings) else {"bootstrap_servers": kafka}
    )
    try:
        admin = KafkaAdminClient(
            **config, client_id="carepath-admin", bootstrap_timeout_ms=int(timeout_s * 1000)
        )
    except KafkaError as error:
        where = f"{config['bootstrap_servers']} ({config.get('security_protocol', 'PLAINTEXT')})"
        raise RuntimeError(f"Kafka at {where} did not answer within {timeout_s:.0f}s") from error
    with admin:
        existing = set(admin.list_topics())
        missing = {
            topic.name: {
                "num_partitions": partitions,
                "replication_factor": replication_factor,
                "configs": {**topic.config(), "min.insync.replicas": str(min_isr)},
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
        except AuthorizationError as error:  # a user that may not see or create them all
            user = config.get("sasl_plain_username", "this client")
            raise RuntimeError(
                f"{user} may not create the missing topics {', '.join(sorted(missing))} "
                f"({type(error).__name__}): use a user allowed to create topics"
            ) from error
        return sorted(missing)
