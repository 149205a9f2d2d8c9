"""CarePath event contracts: the CloudEvents envelope, the topic registry and the event models.

Downstream services depend on these more than on any code: a change to a published event is
additive, or a new version with an upcaster.
"""

from carepath.contracts.envelope import CloudEvent, actor_attribute, parse_actor
from carepath.contracts.events import DomainEvent, EventRegistry, registry
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
    "actor_attribute",
    "dlq_topic",
    "parse_actor",
    "registry",
    "topic_named",
]
