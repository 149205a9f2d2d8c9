"""The messages of the AsyncAPI document (`carepath.contracts.asyncapi`) and their headers.

Each event type is a message twice: on its topic (the CloudEvents envelope with the event as
`data`, the routing headers), and on its consumers' dead-letter topics (the same record, plus the
`dlq_*` headers a consumer adds when it sets a record aside). A dead-letter topic also holds
whatever was not an event at all: the unreadable message.
"""

from typing import Any

from carepath.contracts.envelope import CONTENT_TYPE, ID_HEADER, LEGACY_HEADERS, TYPE_HEADER
from carepath.contracts.events import DomainEvent
from carepath.contracts.topics import ALL_TOPICS, SUBSCRIPTIONS

KAFKA_BINDING_VERSION = "0.5.0"
CLOUD_EVENTS_HEADERS = "cloudEventsHeaders"
DEAD_LETTER_HEADERS = "deadLetterHeaders"
UNREADABLE = "unreadableDeadLetter"


def message_traits() -> dict[str, Any]:
    """The message traits: the routing headers of every event, the headers of a dead letter."""
    return {
        CLOUD_EVENTS_HEADERS: {"headers": cloud_events_headers_schema()},
        # Applied after cloudEventsHeaders (traits merge as JSON Merge Patch, in order):
        # `allOf` adds the dead-letter headers to the record's own, replacing nothing.
        DEAD_LETTER_HEADERS: {"headers": {"allOf": [dead_letter_headers_schema()]}},
    }


def dead_letter_name(event_type: str) -> str:
    """The message of an event type on a dead-letter topic: `<type>.dlq`."""
    return f"{event_type}.dlq"


def event_message(model: type[DomainEvent], data_ref: dict[str, str]) -> dict[str, Any]:
    """An event type on its topic: the CloudEvents envelope, the event (`data_ref`) as `data`."""
    return {
        "name": model.event_type(),
        "title": model.name(),
        "summary": (model.__doc__ or "").strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "traits": [{"$ref": f"#/components/messageTraits/{CLOUD_EVENTS_HEADERS}"}],
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEvent"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": model.event_type()},
                        "source": {"const": f"/carepath/{model.context}"}
                        if model.context != "access"
                        else {"type": "string"},
                        "data": data_ref,
                    },
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "format": "uuid", "description": "The patient id."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def dead_letter_message(model: type[DomainEvent], data_ref: dict[str, str]) -> dict[str, Any]:
    """The event as a dead letter: the same record, with the dead-letter headers besides."""
    return {
        **event_message(model, data_ref),
        "name": dead_letter_name(model.event_type()),
        "title": f"{model.name()} (dead letter)",
        "description": (
            f"A {model.name()} record that a consumer set aside: value, key and headers as "
            "they were on the source topic, plus the `dlq_*` headers."
        ),
        "traits": [
            {"$ref": f"#/components/messageTraits/{CLOUD_EVENTS_HEADERS}"},
            {"$ref": f"#/components/messageTraits/{DEAD_LETTER_HEADERS}"},
        ],
    }


def unreadable_message() -> dict[str, Any]:
    """Whatever a dead-letter topic holds that is none of its source topic's events."""
    return {
        "name": UNREADABLE,
        "title": "Unreadable record (dead letter)",
        "summary": "A record that is none of the topic's events, as it was.",
        "description": (
            "Whatever reached the topic and is not one of its events as the consumer knows "
            "them (not JSON, not a CloudEvents envelope, a type newer than the consumer): the "
            "value byte for byte, with whatever headers it had besides the `dlq_*` headers."
        ),
        "contentType": "application/octet-stream",
        "traits": [{"$ref": f"#/components/messageTraits/{DEAD_LETTER_HEADERS}"}],
        "payload": {
            "description": "The record's value as it was, unparsed; null when `dlq_value` is set."
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The record's key as it was."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def cloud_events_headers_schema() -> dict[str, Any]:
    """The headers of every event record: content type, and the type and id for routing."""
    return {
        "type": "object",
        "properties": {
            "content-type": {"const": CONTENT_TYPE},
            TYPE_HEADER: {
                "type": "string",
                "description": "The CloudEvents `type`, for routing without parsing. Records "
                "written before 2026-11-29 carry `ce_type` instead (no longer sent: the "
                "CloudEvents Kafka binding reads `ce_` headers as a binary-mode event).",
            },
            ID_HEADER: {
                "type": "string",
                "format": "uuid",
                "description": "The CloudEvents `id` (`ce_id` on records written before).",
            },
            **{
                legacy: {
                    "type": "string",
                    "deprecated": True,
                    "description": f"`{name}` on records written before 2026-11-29.",
                }
                for name, legacy in LEGACY_HEADERS.items()
            },
            "traceparent": {
                "type": "string",
                "description": "W3C trace context of the producer span.",
            },
            "carepath-redrive-for": {
                "type": "string",
                "description": "On a record an operator sent back from a dead-letter topic "
                "(`carepath-dlq replay`): the one consumer (`eligibility`, `dashboard`, ...) that "
                "is to apply it again; every other consumer has it already and skips it by its "
                "`id`.",
            },
        },
        "required": ["content-type"],
        # Records written before 2026-11-29 (kept for ever) carry the legacy pair instead.
        "anyOf": [
            {"required": [TYPE_HEADER, ID_HEADER]},
            {"required": list(LEGACY_HEADERS.values())},
        ],
    }


def dead_letter_headers_schema() -> dict[str, Any]:
    """The `dlq_*` headers a consumer adds to a record it sets aside (carepath.chassis.consumer)."""
    number = {"type": "string", "pattern": "^[0-9]+$"}
    return {
        "type": "object",
        "description": (
            "What a consumer adds to a record it sets aside, beside the record's own headers. "
            "None carries patient data: the error is its class and a description without the "
            "record's values."
        ),
        "properties": {
            "dlq_consumer": {
                "type": "string",
                "enum": list(SUBSCRIPTIONS),
                "description": "The consumer that set it aside (consumer group "
                "`carepath.<consumer>`).",
            },
            "dlq_error_type": {
                "type": "string",
                "description": "The error's class, e.g. `ValidationError`, `UnknownEventType`, "
                "`UnverifiedEvent`, `RuleViolation`.",
            },
            "dlq_error": {
                "type": "string",
                "description": "What was wrong, quoting no value of the record: a schema error's "
                "field locations and kinds, an unknown type, what the provenance check refused, "
                "or the line of code that raised the error.",
            },
            "dlq_attempts": {
                **number,
                "description": "How often it was tried (decimal): 1 when no retry could cure it.",
            },
            "dlq_at": {
                "type": "string",
                "format": "date-time",
                "description": "When it was set aside (ISO 8601, UTC).",
            },
            "dlq_source_topic": {
                "type": "string",
                "enum": [topic.name for topic in ALL_TOPICS],
                "description": "The topic it was read from.",
            },
            "dlq_source_partition": {**number, "description": "Its partition there (decimal)."},
            "dlq_source_offset": {**number, "description": "Its offset there (decimal)."},
            "dlq_value": {
                "type": "string",
                "description": "Only when the record with these headers was more than the broker "
                "accepts: the value is then left out (null); read the record at its source.",
            },
        },
        "required": [
            "dlq_consumer",
            "dlq_error_type",
            "dlq_error",
            "dlq_attempts",
            "dlq_at",
            "dlq_source_topic",
            "dlq_source_partition",
            "dlq_source_offset",
        ],
    }
