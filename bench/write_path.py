"""Write path: commands per second through decide + append + commit (no HTTP), against the
`eventsourcing` library appending as many events of the same size to the same database."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.evidence import load_signer
from carepath.chassis.group_commit import GroupCommit
from carepath.chassis.outbox import Outbox
from carepath.chassis.patient_keys import KeyEncryptionKey, PatientKeys
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts.intake import ReferPatient
from carepath.intake.clinic_policy import load_policy
from carepath.intake.domain import IntakeCommand, Request, intake_decider, stream_id

REASONS = ("depression", "ptsd", "anxiety", "chronic_pain")


def referral(n: int) -> ReferPatient:
    """The referral of the n-th synthetic patient."""
    return ReferPatient(
        patient_id=uuid4(),
        given_name=f"Given{n}",
        family_name=f"Family{n}",
        date_of_birth=date(1960 + n % 40, 1 + n % 12, 1 + n % 28),
        referral_reason=REASONS[n % len(REASONS)],  # type: ignore[arg-type]
        referrer="Dr Bench",
        contact=f"patient{n}@example.org",
    )


class IntakeWriter:
    """Intake's write path without HTTP: a command through the decider into the event store,
    which seals the identifying and free-text fields with the patient's key, as intake does;
    concurrent commands are group-committed, as the service's runtime does."""

    def __init__(self, engine: AsyncEngine, keys_dir: Path, actor: str) -> None:
        keys = PatientKeys(engine, KeyEncryptionKey("bench", bytes(range(32))))
        self.store = EventStore(engine, load_signer("intake", keys_dir), keys)
        self.commits = GroupCommit(self.store)
        self.decider = intake_decider(load_policy())
        self.metadata = EventMetadata(
            source="/carepath/intake", actor=actor, correlation_id=str(uuid4())
        )

    async def run(self, request: Request, patient_id: UUID) -> None:
        """Run one command on the patient's intake stream."""
        await self.commits.handle(
            self.decider,
            stream_id(patient_id),
            IntakeCommand(request=request, now=datetime.now(UTC)),
            subject=str(patient_id),
            metadata=self.metadata,
        )


async def refer_patients(database_url: str, keys_dir: Path, count: int, writers: int) -> float:
    """Refer `count` fresh patients with `writers` concurrent tasks; returns commands/s.

    Each referral's identifying fields are sealed with a new data key of its patient (made,
    wrapped and stored in the same transaction). The events stay unpublished in the store, for
    the relay to publish next."""
    engine = create_engine(database_url)
    try:
        await create_tables(engine)
        intake = IntakeWriter(engine, keys_dir, "intake_coordinator:bench")
        commands = [referral(n) for n in range(count)]

        async def writer(share: list[ReferPatient]) -> None:
            for request in share:
                await intake.run(request, request.patient_id)

        started = time.perf_counter()
        await asyncio.gather(*(writer(commands[k::writers]) for k in range(writers)))
        return count / (time.perf_counter() - started)
    finally:
        await engine.dispose()


async def average_event_size(database_url: str) -> int:
    """The mean size in bytes of the stored events as they go on the wire (CloudEvents JSON)."""
    engine = create_engine(database_url)
    try:
        events = await Outbox(engine).unpublished(2000)
        return round(sum(len(e.to_cloud_event().to_json()) for e in events) / len(events))
    finally:
        await engine.dispose()


class ReferenceReferral(Aggregate):
    """The `eventsourcing` library's side: one aggregate per patient, one event of `size` bytes."""

    @event("Referred")
    def __init__(self, body: str) -> None:
        self.body = body


class ReferenceApplication(Application):
    """Plain `eventsourcing` application; persistence chosen by its environment."""


def reference_environment(database_url: str, sqlite_file: Path) -> dict[str, str]:
    """The `eventsourcing` persistence settings for the same database as `database_url`."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(sqlite_file)}
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.database or "",
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_POOL_SIZE": "10",
    }


def reference_appends(environment: dict[str, str], count: int, size: int, writers: int) -> float:
    """Save `count` new aggregates of one `size`-byte event each, from `writers` threads."""
    application = ReferenceApplication(env=environment)
    body = "x" * size

    def writer(share: int) -> None:
        for _ in range(share):
            application.save(ReferenceReferral(body=body))

    shares = [count // writers + (1 if k < count % writers else 0) for k in range(writers)]
    started = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(writer, shares))
    elapsed = time.perf_counter() - started
    application.close()
    return count / elapsed
