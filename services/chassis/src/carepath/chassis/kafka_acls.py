"""Who may do what on CarePath's Kafka: each client's ACLs, derived from the topic registry.

The one derivation behind both places that enforce it: the Strimzi KafkaUsers that
deploy/k8s/generate.py writes, and the secured local broker (`carepath.chassis.kafka_users`, which
`KAFKA_SECURITY=sasl_ssl infra/kafka/kafka.sh start` runs). A service may write what it produces
(its context's topic, record-access events, its dead-letter topics) and read what it consumes
(with its consumer group `carepath.<service>`); the auditors may read every context topic.
"""

from dataclasses import dataclass
from typing import Literal

from carepath.chassis.dead_letter_counts import replay_group
from carepath.contracts.topics import (
    ACCESS_EVENTS,
    ALL_TOPICS,
    SUBSCRIPTIONS,
    VERSIONED_READ_MODELS,
    Topic,
    dead_letter_topics,
    dlq_topic,
)

Operation = Literal["Read", "Write", "Describe", "Delete"]  # as Strimzi spells them

AUDITOR = "auditor"
"""The auditors' read-only client (`carepath-audit` replays every topic, commits nothing)."""


@dataclass(frozen=True)
class Permission:
    """Operations allowed on one topic or consumer group: the one named, or (`prefixed`) every
    one whose name starts with `name`."""

    resource: Literal["topic", "group"]
    name: str
    operations: tuple[Operation, ...]
    prefixed: bool = False


def services() -> tuple[str, ...]:
    """Every CarePath service that connects to Kafka: the bounded contexts with a topic of their
    own, and the consumers of the registry."""
    producers = {topic.context for topic in ALL_TOPICS if topic != ACCESS_EVENTS}
    return tuple(sorted(producers | set(SUBSCRIPTIONS)))


def clients() -> tuple[str, ...]:
    """Every Kafka client that gets a user: the services and the auditors."""
    return (*services(), AUDITOR)


def user_name(client: str) -> str:
    """The client's SCRAM user (a Strimzi KafkaUser of that name): `carepath-<client>`."""
    return f"carepath-{client}"


def consumed_topics(service: str) -> tuple[Topic, ...]:
    """The topics `service` reads, in the registry's order."""
    return SUBSCRIPTIONS.get(service, ())


def produced_topics(service: str) -> list[str]:
    """Every topic `service` writes: its context's topic, record-access events, its dead-letter
    topics."""
    own = [topic.name for topic in ALL_TOPICS if topic.context == service]
    dead_letters = [dlq_topic(topic, service).name for topic in consumed_topics(service)]
    return [*own, ACCESS_EVENTS.name, *dead_letters]


def service_permissions(service: str) -> list[Permission]:
    """Write what it produces, read what it consumes, in its own consumer group."""
    if service not in services():
        raise KeyError(f"{service!r} is not a CarePath service; known: {', '.join(services())}")
    allowed = [
        Permission("topic", name, ("Write", "Describe")) for name in produced_topics(service)
    ]
    consumed = consumed_topics(service)
    allowed += [Permission("topic", topic.name, ("Read", "Describe")) for topic in consumed]
    if consumed:
        allowed.append(Permission("group", f"carepath.{service}", ("Read",)))
    if service == "dashboard":
        allowed += dead_letter_count_permissions()
    if service in VERSIONED_READ_MODELS:
        allowed += read_model_version_permissions(service)
    return allowed


def read_model_version_permissions(service: str) -> list[Permission]:
    """Each version of a service's read models after the first builds in a consumer group of
    its own, `carepath.<service>.v<N>`, and pruning a retired version deletes its group (the
    first version's too)."""
    group = f"carepath.{service}"
    return [
        Permission("group", group, ("Describe", "Delete")),
        Permission("group", f"{group}.v", ("Read", "Describe", "Delete"), prefixed=True),
    ]


def dead_letter_count_permissions() -> list[Permission]:
    """The dashboard's dead-letter panel counts every consumer's dead letters and what
    `carepath-dlq replay` has sent back (the replay groups' offsets): it describes, never reads."""
    topics = [Permission("topic", topic.name, ("Describe",)) for topic in dead_letter_topics()]
    groups = [
        Permission("group", replay_group(consumer), ("Describe",)) for consumer in SUBSCRIPTIONS
    ]
    return [*topics, *groups]


def auditor_permissions() -> list[Permission]:
    """Read every context topic from the beginning, without a consumer group."""
    return [Permission("topic", topic.name, ("Read", "Describe")) for topic in ALL_TOPICS]


def permissions(client: str) -> list[Permission]:
    """What `client` (a service or the auditors) may do."""
    return auditor_permissions() if client == AUDITOR else service_permissions(client)
