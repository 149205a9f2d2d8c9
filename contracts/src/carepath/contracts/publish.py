"""`carepath-contracts`: the published artifacts of the event catalog (`make contracts`).

- one JSON Schema (draft 2020-12) per event type: `contracts/schemas/<type>.json`;
- `contracts/asyncapi.yaml` (AsyncAPI 3.0): our Kafka topics as channels, every event type as a
  message (CloudEvents envelope with the event as `data`), keys, retention, headers.

`generate` refuses to overwrite a published schema with an incompatible one (see `compat`):
a breaking change needs a new version of the event.
"""

import json
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from carepath.contracts import ALL_TOPICS, CloudEvent, DomainEvent, registry
from carepath.contracts.compat import BreakingChange, breaking_changes
from carepath.contracts.envelope import CONTENT_TYPE, ID_HEADER, LEGACY_HEADERS, TYPE_HEADER
from carepath.contracts.privacy import mark_plain_properties, stored_form

CONTRACTS_DIR = Path(__file__).resolve().parents[3]
DIALECT = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING_VERSION = "0.5.0"
PARTITIONS = 6


def event_schema(model: type[DomainEvent]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one event type's `data`."""
    schema = mark_plain_properties(stored_form(model).model_json_schema())
    return {
        "$schema": DIALECT,
        "$id": f"urn:carepath:event:{model.event_type()}",
        "x-carepath-type": model.event_type(),
        "x-carepath-topic": model.topic().name,
        **schema,
    }


def current_schemas() -> dict[str, dict[str, Any]]:
    """The schema of every registered event type (every version), by type string."""
    return {model.event_type(): event_schema(model) for model in registry.models()}


def published_schemas(directory: Path) -> dict[str, dict[str, Any]]:
    """The schemas checked in under `directory`, by type string."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def compatibility_breaks(
    published: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]
) -> list[BreakingChange]:
    """Every breaking change of the current catalog against the published schemas."""
    breaks: list[BreakingChange] = []
    for event_type, old in sorted(published.items()):
        if event_type not in current:
            breaks.append(
                BreakingChange(event_type, "", "event type removed; published types stay forever")
            )
        else:
            breaks.extend(breaking_changes(event_type, old, current[event_type]))
    return breaks


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic and event type."""
    models = registry.models()
    everything: list[type[BaseModel]] = [*models, CloudEvent]
    refs, definitions = models_json_schema(
        [(stored_form(model), "validation") for model in everything],
        ref_template="#/components/schemas/{model}",
    )
    mark_plain_properties(definitions)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        channel_id = f"{topic.context}Events"
        of_topic = [model for model in models if model.topic() == topic]
        channels[channel_id] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.description} Key: {topic.key}. Kept forever (retention.ms=-1).",
            "messages": {
                model.event_type(): {"$ref": f"#/components/messages/{model.event_type()}"}
                for model in of_topic
            },
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
        operations[f"publish{topic.context.capitalize()}Events"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"CarePath publishes the {topic.context} context's events.",
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{model.event_type()}"}
                for model in of_topic
            ],
        }
        for model in of_topic:
            messages[model.event_type()] = _message(model, refs[(stored_form(model), "validation")])
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CarePath domain events",
            "version": version("carepath-contracts"),
            "description": (
                "Events of a ketamine-assisted psychotherapy clinic's care pathway. Each Kafka "
                "record is a CloudEvents 1.0 document in structured mode; the key is the patient "
                "id, so one patient's events keep their order. Delivery is at least once: "
                "deduplicate by the CloudEvents `id`. See contracts/README.md."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The local broker of `make up` (infra/kafka).",
            },
            "production": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The clinic's Kafka cluster (Strimzi), via its bootstrap service.",
                "variables": {"bootstrap": {"default": "carepath-kafka-bootstrap:9092"}},
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": definitions["$defs"],
            "messages": messages,
            "messageTraits": {"cloudEventsHeaders": {"headers": _headers_schema()}},
        },
    }


def _message(model: type[DomainEvent], data_ref: dict[str, str]) -> dict[str, Any]:
    return {
        "name": model.event_type(),
        "title": model.name(),
        "summary": (model.__doc__ or "").strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "traits": [{"$ref": "#/components/messageTraits/cloudEventsHeaders"}],
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


def _headers_schema() -> dict[str, Any]:
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
        },
        "required": ["content-type"],
        # Records written before 2026-11-29 (kept for ever) carry the legacy pair instead.
        "anyOf": [
            {"required": [TYPE_HEADER, ID_HEADER]},
            {"required": list(LEGACY_HEADERS.values())},
        ],
    }


def write_artifacts(directory: Path) -> list[Path]:
    """Write the schemas and the AsyncAPI document under `directory`; returns what changed."""
    schemas_dir = directory / "schemas"
    schemas_dir.mkdir(parents=True, exist_ok=True)
    wanted = {
        schemas_dir / f"{event_type}.json": _json(schema)
        for event_type, schema in current_schemas().items()
    }
    wanted[directory / "asyncapi.yaml"] = _yaml(asyncapi_document())
    changed = [
        path for path, text in wanted.items() if not path.exists() or path.read_text() != text
    ]
    for path in changed:
        path.write_text(wanted[path])
    return changed


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _yaml(document: dict[str, Any]) -> str:
    header = "# Generated by `make contracts` (carepath-contracts generate). Do not edit by hand.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def generate(
    directory: Annotated[
        Path, typer.Option(help="The contracts folder to write into.")
    ] = CONTRACTS_DIR,
) -> None:
    """Regenerate the published artifacts, refusing breaking changes to published schemas."""
    breaks = compatibility_breaks(published_schemas(directory / "schemas"), current_schemas())
    if breaks:
        for found in breaks:
            typer.echo(f"breaking: {found}", err=True)
        typer.echo(
            "Nothing written. Make a new version of the event (see contracts/README.md).", err=True
        )
        raise typer.Exit(1)
    changed = write_artifacts(directory)
    for path in changed:
        typer.echo(f"wrote {path}")
    typer.echo(f"{len(registry.types())} event types; {len(changed)} files changed")


@app.command()
def check(
    directory: Annotated[Path, typer.Option(help="The contracts folder to check.")] = CONTRACTS_DIR,
) -> None:
    """Exit 1 when a published schema would break, or the checked-in artifacts are stale."""
    breaks = compatibility_breaks(published_schemas(directory / "schemas"), current_schemas())
    for found in breaks:
        typer.echo(f"breaking: {found}", err=True)
    stale = stale_artifacts(directory)
    for path in stale:
        typer.echo(f"stale: {path} (run `make contracts`)", err=True)
    if breaks or stale:
        raise typer.Exit(1)
    typer.echo(f"{len(registry.types())} event types: compatible and up to date")


def stale_artifacts(directory: Path) -> list[str]:
    """Artifacts under `directory` that differ from what `generate` would write, or are extra."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        write_artifacts(fresh)
        expected = {
            p.relative_to(fresh).as_posix(): p.read_text() for p in fresh.rglob("*") if p.is_file()
        }
    actual = {
        p.relative_to(directory).as_posix(): p.read_text() for p in _artifact_files(directory)
    }
    return sorted(
        name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name)
    )


def _artifact_files(directory: Path) -> list[Path]:
    files = sorted((directory / "schemas").glob("*.json"))
    asyncapi = directory / "asyncapi.yaml"
    return [*files, asyncapi] if asyncapi.exists() else files


def main() -> None:
    app()
