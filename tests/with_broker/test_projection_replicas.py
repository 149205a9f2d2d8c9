"""Two dashboard replicas on one PostgreSQL database, each applying a different event of the same
new patient at the same moment (their partitions of two topics): neither write is lost. The
rows a batch changes are locked as it reads them, and a row made by both at once fails one
batch on its key, which is applied again onto the other's row (as the consumer does)."""

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.inbox import Inbox
from carepath.chassis.sealing import seal
from carepath.contracts import CloudEvent, DomainEvent
from carepath.contracts.eligibility import EligibilityDetermined
from carepath.contracts.intake import PatientReferred
from carepath.contracts.privacy import is_sealed
from carepath.dashboard.models import PatientView
from carepath.dashboard.projection import project

sys.path.append(str(Path(__file__).parents[1] / "contract"))  # the contract tests' samples
from samples import sample_event


def envelope(event: DomainEvent) -> CloudEvent:
    event_id = uuid4()
    data = event.model_dump(mode="json")
    if is_sealed(type(event)):
        data = seal(data, event.event_type(), event_id, bytes(32))
    return CloudEvent(
        id=event_id,
        source=f"/carepath/{event.context}",
        type=event.event_type(),
        time=datetime.now(UTC),
        subject=str(event.patient_id),  # type: ignore[attr-defined]
        data=data,
        sequence=1,
        streamid=f"{event.context}-{event.patient_id}",  # type: ignore[attr-defined]
        correlationid="replicas",
        actor="service:test",
    )


async def test_two_replicas_changing_one_new_patient_lose_neither_change(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url)
    try:
        await create_tables(engine)
        for _ in range(5):  # a race: several patients, each written by both replicas at once
            patient = uuid4()
            referred = sample_event(PatientReferred).model_copy(update={"patient_id": patient})
            determined = sample_event(EligibilityDetermined).model_copy(
                update={"patient_id": patient}
            )
            replicas = [Inbox(engine, "dashboard"), Inbox(engine, "dashboard")]

            async def apply(inbox: Inbox, event: CloudEvent) -> Any:
                try:
                    return await inbox.apply_batch([event], project)
                except IntegrityError:  # the other made the row first: applied again
                    return await inbox.apply_batch([event], project)

            await asyncio.gather(
                apply(replicas[0], envelope(referred)), apply(replicas[1], envelope(determined))
            )
            async with engine.connect() as connection:
                row = (
                    (
                        await connection.execute(
                            select(PatientView).where(PatientView.patient_id == patient)
                        )
                    )  # type: ignore[arg-type]
                    .mappings()
                    .one()
                )
            assert row["referred"] is True
            assert row["screening_outcome"] == determined.outcome.value
    finally:
        await engine.dispose()
