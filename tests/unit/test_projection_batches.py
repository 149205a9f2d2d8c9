"""The dashboard applies events a batch at a time, set-based (one read and one write per table
per batch). Where the batches begin and end must never change the read models: Hypothesis cuts
one clinic's history (every projected event type, several patients, sessions and alerts, some
redelivered) at random places and compares the rows with those of applying one event per
transaction, as the consumer did before batching."""

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.inbox import Inbox
from carepath.chassis.sealing import seal
from carepath.contracts import CloudEvent, DomainEvent, registry
from carepath.contracts.privacy import is_sealed
from carepath.dashboard.cli import read_model_differences
from carepath.dashboard.projection import ALERT_KINDS, HANDLERS, project

sys.path.append(str(Path(__file__).parents[1] / "contract"))  # the contract tests' samples
from samples import sample_event

PATIENTS = [uuid4() for _ in range(3)]
SESSIONS = [uuid4() for _ in range(2)]
KEY = bytes(32)
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _history() -> list[CloudEvent]:
    """Every projected type, a few times each, spread over the patients and sessions; alerts
    acknowledged (some before they are raised, as a rebuild can read them); some redelivered."""
    alerts: list[UUID] = []
    events: list[CloudEvent] = []
    models = sorted(HANDLERS, key=lambda m: m.event_type())
    for round_ in range(3):
        for index, model in enumerate(models):
            patient = PATIENTS[(index + round_) % len(PATIENTS)]
            update: dict[str, Any] = {"patient_id": patient}
            if "session_id" in model.model_fields:
                update["session_id"] = SESSIONS[(index + round_) % len(SESSIONS)]
            if "alert_event_id" in model.model_fields:
                update["alert_event_id"] = alerts[-1] if alerts else uuid4()
            event = sample_event(model, seed=index + 10 * round_).model_copy(update=update)
            envelope = _envelope(event, len(events))
            if model.name() in ALERT_KINDS:
                alerts.append(envelope.id)
            events.append(envelope)
    return events + events[::7]  # the relay republished some


def _envelope(event: DomainEvent, position: int) -> CloudEvent:
    event_id = uuid4()
    data = event.model_dump(mode="json")
    if is_sealed(type(event)):
        data = seal(data, event.event_type(), event_id, KEY)
    return CloudEvent(
        id=event_id,
        source=f"/carepath/{event.context}",
        type=event.event_type(),
        time=START + timedelta(minutes=position),
        subject=str(event.patient_id),  # type: ignore[attr-defined]
        data=data,
        sequence=position + 1,
        streamid=f"stream-{event.patient_id}",  # type: ignore[attr-defined]
        correlationid="c",
        actor="service:test",
    )


HISTORY = _history()


async def _project(database: Path, batches: list[list[CloudEvent]]) -> None:
    engine = create_engine(f"sqlite:///{database}")
    try:
        await create_tables(engine)
        inbox = Inbox(engine, "dashboard")
        for batch in batches:
            await inbox.apply_batch(batch, project)
    finally:
        await engine.dispose()


def test_the_history_exercises_every_handler() -> None:
    assert {registry.model_for(e.type) for e in HISTORY} >= {
        registry.model_for(m.event_type()) for m in HANDLERS
    }
    for event in HISTORY:  # the samples are what the consumers would read
        registry.parse(event.type, event.data)


@pytest.fixture(scope="module")
def one_at_a_time() -> Any:
    with TemporaryDirectory() as folder:
        reference = Path(folder) / "one-at-a-time.db"
        asyncio.run(_project(reference, [[event] for event in HISTORY]))
        yield reference


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.sets(st.integers(1, len(HISTORY) - 1), max_size=12))
def test_where_a_batch_ends_never_changes_the_read_models(
    one_at_a_time: Path, cuts: set[int]
) -> None:
    bounds = [0, *sorted(cuts), len(HISTORY)]
    batches = [HISTORY[start:end] for start, end in pairwise(bounds)]
    with TemporaryDirectory() as folder:
        batched = Path(folder) / "batched.db"
        asyncio.run(_project(batched, batches))
        differences = asyncio.run(
            read_model_differences(f"sqlite:///{one_at_a_time}", f"sqlite:///{batched}")
        )
    assert differences == []
