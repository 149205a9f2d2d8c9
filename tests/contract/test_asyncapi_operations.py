"""The AsyncAPI document says what the services do: who receives each topic in which consumer
group, where each consumer sets aside what it cannot process and with which headers, and how
clients authenticate to the production cluster."""

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import yaml
from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from carepath.chassis.consumer import EventConsumer
from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.kafka import make_broker
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import CloudEvent
from carepath.contracts.asyncapi import asyncapi_document
from carepath.contracts.asyncapi_messages import (
    CLOUD_EVENTS_HEADERS,
    DEAD_LETTER_HEADERS,
    UNREADABLE,
    dead_letter_headers_schema,
)
from carepath.contracts.publish import CONTRACTS_DIR, write_artifacts
from carepath.contracts.topics import (
    ALL_TOPICS,
    INTAKE_EVENTS,
    SUBSCRIPTIONS,
    VERSIONED_READ_MODELS,
    Topic,
    dead_letter_topics,
    topic_named,
)

VALIDATOR = CONTRACTS_DIR / "tools" / "asyncapi-validate"
KUSTOMIZATION = CONTRACTS_DIR.parent / "deploy" / "k8s" / "base" / "kustomization.yaml"
# Published in an earlier version of the document: subscribers' code may name them.
PUBLISHED_CHANNELS = [
    "intakeEvents",
    "eligibilityEvents",
    "sessionEvents",
    "integrationEvents",
    "accessEvents",
]
PUBLISHED_OPERATIONS = [
    "publishIntakeEvents",
    "publishEligibilityEvents",
    "publishSessionEvents",
    "publishIntegrationEvents",
    "publishAccessEvents",
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


async def _ignore(session: object, event: CloudEvent) -> None:
    pass


def chassis_consumer(
    engine: AsyncEngine, consumer: str, generation: str | None = None
) -> EventConsumer:
    """The consumer a service's runtime subscribes (`ServiceRuntime.subscribe`), on the broker
    `make_broker` gives the service; nothing connects until the broker starts."""
    broker = make_broker(ServiceSettings(service_name=consumer))
    return EventConsumer(
        engine,
        broker,
        consumer,
        SUBSCRIPTIONS[consumer],
        _ignore,
        check_provenance=False,
        generation=generation,
    )


def joins(operation: dict[str, Any], group: str) -> bool:
    """True when the operation's `groupId` schema admits `group`."""
    return jsonschema.Draft202012Validator(operation["bindings"]["kafka"]["groupId"]).is_valid(
        group
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'consumer.db'}")
    await create_tables(engine)
    yield engine
    await engine.dispose()


def operations_on(document: dict[str, Any], action: str, address: str) -> dict[str, Any]:
    """The operations with `action` on the channel whose address is `address`, by id."""
    return {
        op_id: op
        for op_id, op in document["operations"].items()
        if op["action"] == action and resolve(document, op["channel"]["$ref"])["address"] == address
    }


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_the_published_channels_and_operations_keep_their_names(
    document: dict[str, Any],
) -> None:
    assert set(PUBLISHED_CHANNELS) <= set(document["channels"])
    assert set(PUBLISHED_OPERATIONS) <= set(document["operations"])
    for op_id in PUBLISHED_OPERATIONS:
        assert document["operations"][op_id]["action"] == "send"


@pytest.mark.parametrize("consumer", SUBSCRIPTIONS)
def test_each_consumer_receives_exactly_its_topics_in_the_group_the_chassis_joins(
    document: dict[str, Any], engine: AsyncEngine, consumer: str
) -> None:
    subscriber = chassis_consumer(engine, consumer).subscriber
    receives = {
        op_id: op
        for op_id, op in document["operations"].items()
        if op["action"] == "receive" and joins(op, subscriber.group_id)
    }
    addresses = [resolve(document, op["channel"]["$ref"])["address"] for op in receives.values()]
    assert sorted(addresses) == sorted(subscriber.topic_names)
    for op in receives.values():
        kafka = op["bindings"]["kafka"]
        assert kafka["clientId"] == {"type": "string", "enum": [subscriber.client_id]}
        assert kafka["bindingVersion"] == "0.5.0"
        channel = resolve(document, op["channel"]["$ref"])
        # the consumer receives every event type of the topic
        assert [resolve(document, m["$ref"]) for m in op["messages"]] == list(
            channel["messages"].values()
        )


def test_the_receive_operations_are_every_consumer_and_topic_of_the_chassis_and_no_more(
    document: dict[str, Any], engine: AsyncEngine
) -> None:
    receives = [op for op in document["operations"].values() if op["action"] == "receive"]
    subscribers = [chassis_consumer(engine, consumer).subscriber for consumer in SUBSCRIPTIONS]
    described = sorted(
        (s.group_id, resolve(document, op["channel"]["$ref"])["address"])
        for op in receives
        for s in subscribers
        if joins(op, s.group_id)
    )
    joined = [(s.group_id, topic) for s in subscribers for topic in s.topic_names]
    assert len(receives) == len(joined) and described == sorted(joined)


@pytest.mark.parametrize("consumer", SUBSCRIPTIONS)
def test_a_new_version_of_read_models_is_described_in_the_group_it_joins(
    document: dict[str, Any], engine: AsyncEngine, consumer: str
) -> None:
    rebuilding = chassis_consumer(engine, consumer, generation="v7").subscriber
    receives = [
        op
        for op in document["operations"].values()
        if op["action"] == "receive" and joins(op, rebuilding.group_id)
    ]
    expected = len(rebuilding.topic_names) if consumer in VERSIONED_READ_MODELS else 0
    assert len(receives) == expected, rebuilding.group_id


@pytest.mark.parametrize("consumer", SUBSCRIPTIONS)
def test_each_consumer_sends_what_it_cannot_process_to_the_channel_of_its_dead_letter_topic(
    document: dict[str, Any], engine: AsyncEngine, consumer: str
) -> None:
    chassis = chassis_consumer(engine, consumer)
    for topic in chassis.topics:
        address = chassis.dead_letter_topic_of(topic.name).name
        [send] = operations_on(document, "send", address).values()
        channel = resolve(document, send["channel"]["$ref"])
        assert channel["bindings"]["kafka"]["topic"] == address
        assert channel["bindings"]["kafka"]["topicConfiguration"]["retention.ms"] == -1


def test_every_dead_letter_topic_has_a_channel(document: dict[str, Any]) -> None:
    dead_letter_channels = [
        c["address"] for c in document["channels"].values() if ".dlq." in c["address"]
    ]
    assert sorted(dead_letter_channels) == sorted(t.name for t in dead_letter_topics())


@pytest.mark.parametrize("dead", dead_letter_topics(), ids=lambda t: t.name)
def test_a_dead_letter_channel_holds_its_source_topics_events_with_the_dead_letter_headers(
    document: dict[str, Any], dead: Topic
) -> None:
    [channel] = [c for c in document["channels"].values() if c["address"] == dead.name]
    source = topic_named(dead.name.split(".dlq.")[0])
    [source_channel] = [c for c in document["channels"].values() if c["address"] == source.name]
    messages = [resolve(document, m["$ref"]) for m in channel["messages"].values()]
    events = [resolve(document, m["$ref"]) for m in source_channel["messages"].values()]
    assert [m["name"] for m in messages] == [f"{e['name']}.dlq" for e in events] + [UNREADABLE]
    for event, letter in zip(events, messages[:-1], strict=True):
        assert letter["payload"] == event["payload"]
        assert letter["bindings"] == event["bindings"]  # the key is the patient id, as it was
        assert letter["traits"] == [
            {"$ref": f"#/components/messageTraits/{CLOUD_EVENTS_HEADERS}"},
            {"$ref": f"#/components/messageTraits/{DEAD_LETTER_HEADERS}"},
        ]
    assert messages[-1]["traits"] == [{"$ref": f"#/components/messageTraits/{DEAD_LETTER_HEADERS}"}]


async def test_the_dead_letter_headers_are_those_the_consumer_writes(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = chassis_consumer(engine, "eligibility")
    sent: list[dict[str, Any]] = []

    async def publish(value: bytes | None, **options: Any) -> None:
        sent.append({"value": value, **options})

    monkeypatch.setattr(consumer.broker, "publish", publish)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=INTAKE_EVENTS.name,
        partition=3,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"patient-key",
        value=b"not a cloudevent",
        checksum=None,
        serialized_key_size=11,
        serialized_value_size=16,
        headers=[("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-ac678397f34180a9-01")],
    )

    await consumer.handle(SimpleNamespace(raw_message=record))  # type: ignore[arg-type]

    [letter] = sent
    assert letter["topic"] == consumer.dead_letter_topic.name
    assert (letter["value"], letter["key"]) == (record.value, record.key)  # as it was
    schema = dead_letter_headers_schema()
    written = {name for name in letter["headers"] if name.startswith("dlq_")}
    assert written == set(schema["required"])
    assert set(schema["properties"]) == written | {"dlq_value"}  # dlq_value: when too large
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        letter["headers"]
    )
    assert letter["headers"]["traceparent"] == record.headers[0][1].decode()


def test_production_is_scram_sha_512_over_tls_as_deployed(document: dict[str, Any]) -> None:
    production = document["servers"]["production"]
    assert production["protocol"] == "kafka-secure"
    schemes = [resolve(document, requirement["$ref"]) for requirement in production["security"]]
    assert [scheme["type"] for scheme in schemes] == ["scramSha512"]
    deployed = dict(
        literal.split("=", 1)
        for generated in yaml.safe_load(KUSTOMIZATION.read_text())["configMapGenerator"]
        if generated["name"] == "carepath-common"
        for literal in generated["literals"]
    )
    assert production["variables"]["bootstrap"]["default"] == deployed["KAFKA_BOOTSTRAP_SERVERS"]
    assert deployed["CAREPATH_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert deployed["CAREPATH_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"


def test_the_local_broker_is_plaintext_as_the_services_default(document: dict[str, Any]) -> None:
    local = document["servers"]["local"]
    defaults = ServiceSettings.model_fields
    assert local["protocol"] == "kafka"
    assert "security" not in local
    assert local["host"] == defaults["kafka_bootstrap_servers"].default
    assert defaults["kafka_security_protocol"].default == "PLAINTEXT"


def test_the_generated_document_passes_the_official_parser(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed to run @asyncapi/parser"
    assert (VALIDATOR / "node_modules").exists(), "run `make contracts-tools` (npm ci) first"
    write_artifacts(tmp_path)
    result = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs"), str(tmp_path / "asyncapi.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout


def test_every_topic_of_the_registry_is_received_by_someone(document: dict[str, Any]) -> None:
    received = {
        resolve(document, op["channel"]["$ref"])["address"]
        for op in document["operations"].values()
        if op["action"] == "receive"
    }
    assert received == {topic.name for topic in ALL_TOPICS}
