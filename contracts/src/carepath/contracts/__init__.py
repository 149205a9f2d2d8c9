"""CarePath event contracts: the CloudEvents envelope, the topic registry and the event catalog.

Downstream services depend on these more than on any code: a change to a published event is
additive, or a new version with an upcaster. Importing this package registers every event type
(`registry`); the models live in one package per bounded context (`carepath.contracts.intake`,
...), each split into `types`, `commands`, `events` and `versions`; record-access events, which
have no commands, are the one module `carepath.contracts.access`.
"""

from carepath.contracts import access, eligibility, intake, integration, session
from carepath.contracts.envelope import CloudEvent, actor_attribute, parse_actor
from carepath.contracts.events import (
    DomainEvent,
    EventRegistry,
    UnknownEventType,
    clinical_time,
    registry,
)
from carepath.contracts.intake import PatientReferred, ReferPatient, Referral, ReferralReason
from carepath.contracts.topics import ALL_TOPICS, Topic, dlq_topic, topic_named

__all__ = [
    "ALL_TOPICS",
    "CloudEvent",
    "DomainEvent",
    "EventRegistry",
    "PatientReferred",
    "ReferPatient",
    "Referral",
    "ReferralReason",
    "Topic",
    "UnknownEventType",
    "access",
    "actor_attribute",
    "clinical_time",
    "dlq_topic",
    "eligibility",
    "intake",
    "integration",
    "parse_actor",
    "registry",
    "session",
    "topic_named",
]
