"""A downstream subscriber to CarePath events, in plain kafka-python.

    uv run python contracts/examples/subscriber.py --topic carepath.intake.events --from-beginning

It shows what every subscriber must do: read the CloudEvents envelope, deduplicate by `id`
(delivery is at least once), turn the payload into the newest version of its event model (older
versions are upcast), skip types it does not know, and commit offsets only after handling.
A real subscriber keeps the seen ids in its own database, in the transaction of its effects.
"""

import argparse
import sys
from uuid import UUID

from kafka import KafkaConsumer
from pydantic import ValidationError

from carepath.contracts import CloudEvent, UnknownEventType, registry


def main() -> int:
    options = _arguments()
    consumer = KafkaConsumer(
        options.topic,
        bootstrap_servers=options.bootstrap_servers,
        group_id=options.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if options.from_beginning else "latest",
        consumer_timeout_ms=int(options.idle_seconds * 1000),
    )
    seen: set[UUID] = set()
    try:
        for record in consumer:  # ends after --idle-seconds without a record
            handle(record.key, record.value, seen)
            consumer.commit()
    finally:
        consumer.close()
    return 0


def handle(key: bytes | None, value: bytes, seen: set[UUID]) -> None:
    """Handle one record: print the patient, the event and its version."""
    try:
        envelope = CloudEvent.from_json(value)
    except ValidationError as error:
        print(
            f"skipped a record that is not a CloudEvent: {error.error_count()} errors",
            file=sys.stderr,
        )
        return
    if envelope.id in seen:
        return  # a redelivery or a republished event: already handled
    try:
        event = registry.parse(envelope.type, envelope.data)
    except UnknownEventType:
        return  # a type newer than this subscriber's contracts: ignore it, or upgrade
    except ValidationError as error:
        # A payload that breaks its schema: set it aside (a dead-letter topic), don't stop.
        print(
            f"skipped {envelope.type} {envelope.id}: {error.error_count()} schema errors",
            file=sys.stderr,
        )
        return
    seen.add(envelope.id)
    print(
        f"{envelope.time.isoformat()} patient={envelope.subject} #{envelope.streamsequence} "
        f"{envelope.type} -> {event.event_type()}"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--topic", default="carepath.intake.events")
    parser.add_argument("--bootstrap-servers", default="localhost:9092")
    parser.add_argument("--group", default="example-subscriber", help="Kafka consumer group")
    parser.add_argument("--from-beginning", action="store_true", help="read the log from offset 0")
    parser.add_argument(
        "--idle-seconds", type=float, default=10.0, help="stop after this long without records"
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
