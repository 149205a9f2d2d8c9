"""Kafka wiring: the FastStream broker every service uses, and topic creation from the registry."""

import logging
from collections.abc import Iterable

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
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
        client_id=f"carepath-{settings.service_name}",
        enable_idempotence=True,
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


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
