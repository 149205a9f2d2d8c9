"""A large log for the rebuild figure (`--rebuild-events 1000000`): referrals as intake stores and
publishes them (the protected fields sealed with a patient's key, signed with the bench's intake
key, one stream per patient), made on every core and produced straight to intake's topic. Going
through the write path would take hours at a million; what the rebuild reads is the same."""

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from aiokafka import AIOKafkaProducer
from write_path import referral

from carepath.chassis.evidence import digest, load_signer
from carepath.chassis.field_crypto import new_data_key
from carepath.chassis.sealing import seal
from carepath.chassis.store import EventMetadata, RecordedEvent
from carepath.contracts.intake import PatientReferred
from carepath.intake.domain import stream_id

CHUNK = 5_000


def _records(keys_dir: Path, first: int, count: int) -> list[tuple[bytes, bytes]]:
    """`count` signed referrals as (key, value) Kafka records."""
    signer = load_signer("intake", keys_dir)
    metadata = EventMetadata(
        source="/carepath/intake", actor="intake_coordinator:bench", correlation_id="synthetic"
    ).as_dict() | {"keyid": signer.key_id}
    records = []
    now = datetime.now(UTC)
    for n in range(first, first + count):
        command = referral(n)  # the write path's n-th referral, as intake records it
        patient = command.patient_id
        event = PatientReferred(**command.model_dump(), occurred_at=now)
        draft = RecordedEvent(
            position=n + 1,
            stream_id=stream_id(patient),
            sequence=1,
            event_id=uuid4(),
            event_type=event.event_type(),
            subject=str(patient),
            payload=event.model_dump(mode="json"),
            metadata=metadata,
            recorded_at=now,
        )
        draft = replace(
            draft, payload=seal(draft.payload, draft.event_type, draft.event_id, new_data_key())
        )
        signed = replace(draft, signature=signer.sign(digest(draft.to_cloud_event())))
        cloud_event = signed.to_cloud_event()
        records.append((cloud_event.kafka_key(), cloud_event.to_json()))
    return records


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, CHUNK):
        yield first, min(CHUNK, total - first)


async def publish_referrals(bootstrap: str, topic: str, keys_dir: Path, total: int) -> float:
    """Make and produce `total` referrals to `topic`; returns the seconds it took."""
    started = time.perf_counter()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    loop = asyncio.get_running_loop()
    try:
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            made = [
                loop.run_in_executor(pool, _records, keys_dir, first, count)
                for first, count in _chunks(total)
            ]
            for done in made:  # in order, produced while the next chunks are made
                sent = [await producer.send(topic, value, key=key) for key, value in await done]
                await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return time.perf_counter() - started
