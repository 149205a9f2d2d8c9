"""The Decider pattern: the behaviour of a stream as pure `decide` and `evolve` functions.

`execute` is the whole write path of a command: load the stream, fold it into state, decide,
append with the version it decided against (a concurrent change raises `ConcurrencyError`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.store import EventMetadata, EventStore, RecordedEvent
from carepath.contracts import DomainEvent

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Decider(Generic[S, C]):
    """`decide(state, command) -> events`, `evolve(state, event) -> state`, `initial_state`."""

    decide: Callable[[S, C], Sequence[DomainEvent]]
    evolve: Callable[[S, DomainEvent], S]
    initial_state: S

    def fold(self, events: Sequence[DomainEvent]) -> S:
        """The state after `events`."""
        return self.fold_onto(self.initial_state, events)

    def fold_onto(self, state: S, events: Sequence[DomainEvent]) -> S:
        """The state after `events`, starting from `state`."""
        return reduce(self.evolve, events, state)


async def load_state(store: EventStore, decider: Decider[S, C], stream_id: str) -> tuple[S, int]:
    """The current state of a stream and its version (0: no events yet)."""
    history = await store.load(stream_id)
    return decider.fold([recorded.event() for recorded in history]), len(history)


async def execute(
    store: EventStore,
    decider: Decider[S, C],
    stream_id: str,
    command: C,
    *,
    subject: str,
    metadata: EventMetadata,
    session: AsyncSession | None = None,
) -> tuple[S, list[RecordedEvent]]:
    """Run `command` against the stream and store what it decided; returns the state after the
    command and the stored events."""
    history = await store.load(stream_id, session=session)
    state = decider.fold([recorded.event() for recorded in history])
    events = decider.decide(state, command)
    recorded = await store.append(
        stream_id,
        len(history),
        events,
        subject=subject,
        metadata=metadata,
        session=session,
        tail=history[-1] if history else None,
    )
    return decider.fold_onto(state, events), recorded
