"""Running deciders against the event store: the write path of a command, and reading a stream's
state. The runtime (`carepath.chassis.runtime`) uses these; deciders never import them.

`execute` is the whole write path of a command: load the stream, fold it into state, decide,
append with the version it decided against (a concurrent change raises `ConcurrencyError`).
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.decider import C, Decider, S
from carepath.chassis.store import EventMetadata, EventStore, RecordedEvent
from carepath.contracts import DomainEvent

E = TypeVar("E", bound=DomainEvent)


@dataclass(frozen=True)
class Decision(Generic[S]):
    """What a command decided: the stream's state after it, and the events it stored."""

    state: S
    recorded: list[RecordedEvent]

    @property
    def events(self) -> list[DomainEvent]:
        """The stored events, as event models (with the store's `occurred_at`)."""
        return [recorded.event() for recorded in self.recorded]

    def first(self, kind: type[E]) -> E | None:
        """The first decided event of type `kind`, if any."""
        return next((event for event in self.events if isinstance(event, kind)), None)


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
) -> Decision[S]:
    """Run `command` against the stream and store what it decided."""
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
    return Decision(decider.fold_onto(state, events), recorded)
