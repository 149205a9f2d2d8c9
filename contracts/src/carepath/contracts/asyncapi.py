"""The AsyncAPI 3.0 document of CarePath's Kafka interface (`contracts/asyncapi.yaml`).

Everything in it is derived from the topic registry (`carepath.contracts.topics`) and the event
registry, so the document cannot drift from what the services do:
- servers: the local broker (PLAINTEXT) and the clinic's Strimzi cluster (SCRAM-SHA-512 over TLS);
- channels: every topic, and every dead-letter topic `<topic>.dlq.<consumer>`;
- operations: CarePath sends each context's events; each consumer of `SUBSCRIPTIONS` receives its
  topics in its consumer group, and sends what it cannot process to its dead-letter topics;
- messages: every event type in its CloudEvents envelope, and the same as a dead letter (the
  record as it was, plus the `dlq_*` headers).
"""

import re
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from carepath.contracts.asyncapi_messages import (
    KAFKA_BINDING_VERSION,
    UNREADABLE,
    dead_letter_message,
    dead_letter_name,
    event_message,
    message_traits,
    unreadable_message,
)
from carepath.contracts.envelope import CONTENT_TYPE, CloudEvent
from carepath.contracts.events import registry
from carepath.contracts.privacy import mark_plain_properties, stored_form
from carepath.contracts.topics import (
    ALL_TOPICS,
    SUBSCRIPTIONS,
    VERSIONED_READ_MODELS,
    Topic,
    dlq_topic,
)

PARTITIONS = 6
PRODUCTION_BOOTSTRAP = "carepath-kafka-bootstrap.kafka.svc:9093"  # Strimzi's `tls` listener
SCRAM = "scramSha512"


def consumer_group(consumer: str) -> str:
    """The Kafka consumer group of a CarePath consumer (a key of `SUBSCRIPTIONS`)."""
    return f"carepath.{consumer}"


def _group_id_schema(consumer: str, group: str) -> dict[str, Any]:
    if consumer not in VERSIONED_READ_MODELS:
        return {"type": "string", "enum": [group]}
    return {
        "type": "string",
        "pattern": f"^{re.escape(group)}(\\.v[0-9]+)?$",
        "description": f"`{group}` for version 1 of its read models; version N > 1, which "
        f"builds beside the running one from offset 0, reads in `{group}.v<N>`.",
    }


def consumer_client_id(consumer: str) -> str:
    """The Kafka client id its consumers connect with (every replica of the service alike)."""
    return f"carepath-{consumer}"


def channel_id(topic: Topic) -> str:
    """The channel of one of the registry's topics: `intakeEvents`, `sessionEvents`, ..."""
    return f"{topic.context}Events"


def dead_letter_channel_id(topic: Topic, consumer: str) -> str:
    """The channel of `consumer`'s dead-letter topic for `topic`: `intakeEventsDlqEligibility`."""
    return f"{channel_id(topic)}Dlq{consumer.capitalize()}"


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic, event type, producer and consumer."""
    models = registry.models()
    everything: list[type[BaseModel]] = [*models, CloudEvent]
    refs, definitions = models_json_schema(
        [(stored_form(model), "validation") for model in everything],
        ref_template="#/components/schemas/{model}",
    )
    mark_plain_properties(definitions)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    by_topic = {topic: [m for m in models if m.topic() == topic] for topic in ALL_TOPICS}
    events_of = {topic: [m.event_type() for m in of_topic] for topic, of_topic in by_topic.items()}
    for topic in ALL_TOPICS:
        channels[channel_id(topic)] = _channel(topic, events_of[topic])
        operations[f"publish{topic.context.capitalize()}Events"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id(topic)}"},
            "summary": f"CarePath publishes the {topic.context} context's events.",
            "messages": _message_refs(channel_id(topic), events_of[topic]),
        }
    for consumer, topics in SUBSCRIPTIONS.items():
        for topic in topics:
            operations[f"{consumer}Receives{topic.context.capitalize()}Events"] = _receive(
                consumer, topic, events_of[topic]
            )
    for consumer, topics in SUBSCRIPTIONS.items():
        for topic in topics:
            dead = [*map(dead_letter_name, events_of[topic]), UNREADABLE]
            channels[dead_letter_channel_id(topic, consumer)] = _dead_letter_channel(
                topic, consumer, dead
            )
            operations[f"{consumer}DeadLetters{topic.context.capitalize()}Events"] = (
                _dead_letter_send(consumer, topic, dead)
            )
    in_order = [model for of_topic in by_topic.values() for model in of_topic]
    data = {model: refs[(stored_form(model), "validation")] for model in in_order}
    messages: dict[str, Any] = {
        **{model.event_type(): event_message(model, data[model]) for model in in_order},
        **{dead_letter_name(m.event_type()): dead_letter_message(m, data[m]) for m in in_order},
        UNREADABLE: unreadable_message(),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CarePath domain events",
            "version": version("carepath-contracts"),
            "description": (
                "Events of a ketamine-assisted psychotherapy clinic's care pathway. Each Kafka "
                "record is a CloudEvents 1.0 document in structured mode; the key is the patient "
                "id, so one patient's events keep their order. Delivery is at least once: "
                "deduplicate by the CloudEvents `id`. The operations say who sends each topic, "
                "which CarePath consumer receives it in which consumer group, and where each "
                "consumer sets aside what it cannot process (its dead-letter topics). See "
                "contracts/README.md."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": _servers(),
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": definitions["$defs"],
            "messages": messages,
            "securitySchemes": {
                SCRAM: {
                    "type": "scramSha512",
                    "description": (
                        "SASL SCRAM-SHA-512 over TLS (Kafka's SASL_SSL). Each CarePath client "
                        "has its own user, `carepath-<service>` (a Strimzi KafkaUser), whose ACLs "
                        "follow the topic registry: write its context's topic, record-access "
                        "events and its dead-letter topics; read its subscriptions in its own "
                        "consumer group. Services: CAREPATH_KAFKA_SECURITY_PROTOCOL=SASL_SSL, "
                        "CAREPATH_KAFKA_SASL_MECHANISM=SCRAM-SHA-512, CAREPATH_KAFKA_USERNAME, "
                        "CAREPATH_KAFKA_PASSWORD, CAREPATH_KAFKA_CA_FILE (the cluster CA)."
                    ),
                }
            },
            "messageTraits": message_traits(),
        },
    }


def _servers() -> dict[str, Any]:
    return {
        "local": {
            "host": "localhost:9092",
            "protocol": "kafka",
            "description": (
                "The local broker of `make up` (infra/kafka): PLAINTEXT, no credentials, for "
                "this machine only (the services refuse PLAINTEXT to any other host). "
                "`KAFKA_SECURITY=sasl_ssl infra/kafka/kafka.sh start` secures it as production "
                "is."
            ),
        },
        "production": {
            "host": "{bootstrap}",
            "protocol": "kafka-secure",
            "description": (
                "The clinic's Kafka cluster (Strimzi), via its bootstrap service: the `tls` "
                "listener, TLS with the cluster CA and SASL SCRAM-SHA-512 users."
            ),
            "variables": {
                "bootstrap": {
                    "default": PRODUCTION_BOOTSTRAP,
                    "description": "host:port of the cluster's bootstrap service (`tls` listener).",
                }
            },
            "security": [{"$ref": f"#/components/securitySchemes/{SCRAM}"}],
        },
    }


def _channel(topic: Topic, message_names: list[str]) -> dict[str, Any]:
    return {
        "address": topic.name,
        "title": topic.name,
        "description": f"{topic.description} Key: {topic.key}. Kept forever (retention.ms=-1).",
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in message_names},
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": PARTITIONS,
                "topicConfiguration": {
                    "retention.ms": topic.retention_ms,
                    "cleanup.policy": ["delete"],
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _dead_letter_channel(topic: Topic, consumer: str, message_names: list[str]) -> dict[str, Any]:
    channel = _channel(dlq_topic(topic, consumer), message_names)
    channel["description"] = (
        f"{channel['description']} Each record is the {topic.name} record as it was (value and "
        "key byte for byte, and its headers) with `dlq_*` headers saying where it came from and "
        "why. No header carries patient data. Operators list, show and send them back to "
        f"{topic.name} for {consumer} alone with `carepath-dlq`."
    )
    return channel


def _message_refs(channel: str, message_names: list[str]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in message_names]


def _receive(consumer: str, topic: Topic, message_names: list[str]) -> dict[str, Any]:
    group, client = consumer_group(consumer), consumer_client_id(consumer)
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{channel_id(topic)}"},
        "summary": f"The {consumer} service consumes the {topic.context} context's events.",
        "description": (
            f"In consumer group `{group}` (client id `{client}`): the service's replicas share "
            "the group and split the partitions; a new group starts from the earliest offset. "
            "The effects of a batch and its event ids commit in one transaction (an inbox), "
            "then the offsets: a redelivered event is recognised by its CloudEvents `id`. A "
            f"record it cannot process goes to `{dlq_topic(topic, consumer).name}`."
        ),
        "messages": _message_refs(channel_id(topic), message_names),
        "bindings": {
            "kafka": {
                "groupId": _group_id_schema(consumer, group),
                "clientId": {"type": "string", "enum": [client]},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _dead_letter_send(consumer: str, topic: Topic, message_names: list[str]) -> dict[str, Any]:
    channel = dead_letter_channel_id(topic, consumer)
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": f"The {consumer} service sets aside what it cannot process of {topic.name}.",
        "description": (
            "A record that is not a CarePath event, fails its schema or its provenance check, or "
            "that a clinical rule refuses goes here at once; one that keeps failing, after its "
            "retries. The partition moves on."
        ),
        "messages": _message_refs(channel, message_names),
    }
