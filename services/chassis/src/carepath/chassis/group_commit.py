"""Group commit: the staff commands that arrive while a transaction is being written are written
together, in the next one.

A command alone costs a transaction: a read of its stream, an insert, a commit, and on SQLite
each of these is a hop to the database thread. Under load, commands queue up anyway; the writer
takes every command waiting (up to `max_group`) and, in one transaction: reads all their streams
in one query, decides each command on its stream in arrival order (a later command on the same
stream sees what an earlier one decided), seals, chains and signs each event as before, and
inserts every event of the group in one statement. Nothing waits for a group to fill: a command
that finds the writer idle is written at once.

What one command does wrong stays its own: a command its decider refuses fails alone and writes
nothing. When the group cannot be written (an `also` that fails, the database refusing a
statement, another replica that wrote the same stream first), each of its commands is written
again alone, in its own transaction, so only the culprit fails; a conflict then surfaces as
`ConcurrencyError`, for the caller to decide again on the new state.
"""

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic

from opentelemetry import trace
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.commands import Decision
from carepath.chassis.decider import C, Decider, S
from carepath.chassis.errors import ConcurrencyError
from carepath.chassis.sealing import needs_sealing
from carepath.chassis.store import EventMetadata, EventStore, RecordedEvent
from carepath.chassis.telemetry import current_span_context, span_without_data
from carepath.contracts import DomainEvent

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Also = Callable[[AsyncSession, Any], Awaitable[None]]


@dataclass
class _Command(Generic[S, C]):
    decider: Decider[S, C]
    stream_id: str
    command: C
    subject: str
    metadata: EventMetadata
    also: Also | None
    done: "asyncio.Future[Decision[S]]" = field(repr=False)
    caller: trace.SpanContext = field(default_factory=current_span_context, repr=False)

    def settle(self, outcome: "Decision[S] | BaseException") -> None:
        if self.done.done():  # its caller went away (a client that hung up)
            return
        if isinstance(outcome, asyncio.CancelledError):
            self.done.cancel()
        elif isinstance(outcome, BaseException):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)


_Decided = tuple[_Command[Any, Any], int, Sequence[DomainEvent], Any]
"""A command decided in a group: the version it was decided against, its events, the state."""


STREAM_CONFLICT = "uq_event_store_stream_sequence"  # another writer took the stream's next sequence


class _GroupFailed(Exception):
    """The group as a whole cannot be written: each command is written again alone."""


class GroupCommit:
    """Writes a service's staff commands in groups (see the module's description)."""

    def __init__(
        self, store: EventStore, *, max_group: int = 100, writers: int | None = None
    ) -> None:
        """`writers`: groups written at once; by default one on SQLite (which has one writer
        anyway) and four on PostgreSQL."""
        self.store = store
        self.max_group = max_group
        self.writers = writers or (1 if store.engine.dialect.name == "sqlite" else 4)
        self._queue: deque[_Command[Any, Any]] = deque()
        self._writing = 0  # writer tasks running; one stops the moment it finds no command
        self._tasks: set[asyncio.Task[None]] = set()  # a reference to each, while it runs
        self.groups_written = 0
        self.commands_written = 0

    async def handle(
        self,
        decider: Decider[S, C],
        stream_id: str,
        command: C,
        *,
        subject: str,
        metadata: EventMetadata,
        also: Also | None = None,
    ) -> Decision[S]:
        """Decide `command` on the stream and store its events; the stream's state after it and
        what it decided. Raises what the decider raises, or `ConcurrencyError`."""
        done: asyncio.Future[Decision[S]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Command(decider, stream_id, command, subject, metadata, also, done))
        if self._writing < self.writers:
            self._writing += 1
            # A context of its own: the group's work belongs to no one request's trace.
            writer = asyncio.create_task(self._write_groups(), context=contextvars.Context())
            self._tasks.add(writer)
            writer.add_done_callback(self._tasks.discard)
        return await done

    async def _write_groups(self) -> None:
        group: list[_Command[Any, Any]] = []
        try:
            while self._queue:
                size = min(len(self._queue), self.max_group)
                group = [self._queue.popleft() for _ in range(size)]
                try:
                    await self._write(group)
                except _GroupFailed:
                    for command in group:
                        await self._write_alone(command)
                except Exception as error:
                    for command in group:
                        command.settle(error)
        except BaseException as stopped:  # cancelled (shutdown): no caller is left waiting
            for command in [*group, *self._queue]:
                command.settle(stopped)
            self._queue.clear()
            raise
        finally:
            self._writing -= 1  # no await since the queue was found empty: none is left behind

    async def _write_alone(self, command: _Command[Any, Any]) -> None:
        try:
            await self._write([command])
        except Exception as error:  # a group of one raises its own error, never _GroupFailed
            command.settle(error)

    async def _write(self, group: list[_Command[Any, Any]]) -> None:
        refused: list[tuple[_Command[Any, Any], Exception]] = []
        versions: dict[str, int] = {}  # each stream's version as read
        prepared: list[tuple[_Command[Any, Any], Any, list[RecordedEvent]]] = []
        every: list[RecordedEvent] = []
        committing = False
        try:
            with self._traced(group):
                async with self.store.transaction() as tx:
                    streams = await self.store.load_many([c.stream_id for c in group], tx)
                    versions = {stream_id: len(events) for stream_id, events in streams.items()}
                    decided, refused = self._decide(group, streams)
                    await self.store.prepare_keys(
                        [
                            c.subject
                            for c, _, events, _ in decided
                            if any(map(needs_sealing, events))
                        ],
                        tx,
                    )
                    for command, version, events, state in decided:
                        tail = (
                            streams[command.stream_id][-1] if streams[command.stream_id] else None
                        )
                        pending = await self.store.prepare(
                            command.stream_id,
                            version,
                            events,
                            command.subject,
                            command.metadata,
                            tx,
                            tail=tail,
                        )
                        streams[command.stream_id] = streams[command.stream_id] + pending
                        if command.also is not None:
                            await command.also(tx, state)
                        prepared.append((command, state, pending))
                    # In stream order: two groups inserting the same streams lock them alike.
                    every = sorted(
                        (event for _, _, pending in prepared for event in pending),
                        key=lambda event: (event.stream_id, event.sequence),
                    )
                    stored = await self.store.insert(every, tx)
                    committing = True
        except Exception as error:
            anyway = await self._stored_anyway(every, error) if committing else None
            if anyway is None:
                raise await self._failure(group, error, versions) from error
            stored = anyway  # the commit reported a failure, yet the database has the group
        by_id = {event.event_id: event for event in stored}
        self.groups_written += 1
        self.commands_written += len(group)
        for command, refusal in refused:
            command.settle(refusal)
        for command, state, pending in prepared:
            command.settle(Decision(state, [by_id[event.event_id] for event in pending]))

    @staticmethod
    def _traced(group: list[_Command[Any, Any]]) -> AbstractContextManager[trace.Span]:
        # The group's transaction (and its SQL) is one span, linked to each request in it.
        return span_without_data(
            tracer,
            "store events",
            links=[trace.Link(c.caller) for c in group if c.caller.is_valid],
            attributes={"carepath.group.commands": len(group)},
        )

    async def _failure(
        self, group: list[_Command[Any, Any]], error: Exception, versions: dict[str, int]
    ) -> Exception:
        """What to raise for a group that was not written: each command again alone (a group),
        or the command's own error (alone; a conflict on its stream is a `ConcurrencyError`)."""
        if len(group) > 1:
            return _GroupFailed()
        [command] = group
        if isinstance(error, IntegrityError) and STREAM_CONFLICT in str(error.orig):
            return ConcurrencyError(
                command.stream_id,
                versions.get(command.stream_id, 0),
                await self.store.version(command.stream_id),
            )
        return error

    async def _stored_anyway(
        self, events: list[RecordedEvent], error: Exception
    ) -> list[RecordedEvent] | None:
        """After a commit that raised (a connection lost while committing), the group's events
        as stored if the commit went through after all, else None. Writing the group again
        would store each command twice; when the database cannot say, the error stands."""
        try:
            stored = await self.store.positions_of([event.event_id for event in events])
        except Exception:
            log.warning("a group's commit failed (%s) and cannot be checked", type(error).__name__)
            raise error from None
        if not stored:
            return None
        return [replace(event, position=stored[event.event_id]) for event in events]

    @staticmethod
    def _decide(
        group: list[_Command[Any, Any]], streams: dict[str, list[RecordedEvent]]
    ) -> tuple[list[_Decided], list[tuple[_Command[Any, Any], Exception]]]:
        """Each command decided on its stream as the commands before it in the group left it
        (no I/O): (command, version decided against, events, state after) of those decided, and
        (command, error) of those refused, which change nothing."""
        states: dict[str, tuple[Any, int]] = {}
        now = datetime.now(UTC)
        decided: list[_Decided] = []
        refused: list[tuple[_Command[Any, Any], Exception]] = []
        for command in group:
            decider, stream_id = command.decider, command.stream_id
            if stream_id not in states:
                history = streams[stream_id]
                states[stream_id] = (decider.fold([e.event() for e in history]), len(history))
            state, version = states[stream_id]
            try:
                events = [
                    _dated(event, command.metadata.occurred_at or now)
                    for event in decider.decide(state, command.command)
                ]
            except Exception as error:  # the command's own failure: it writes nothing
                refused.append((command, error))
                continue
            after = decider.fold_onto(state, events)
            states[stream_id] = (after, version + len(events))
            decided.append((command, version, events, after))
        return decided, refused


def _dated(event: DomainEvent, default: datetime) -> DomainEvent:
    """The event as it will be stored (an undated one happened when it is recorded), so that a
    later command of the group decides on what the store will hold."""
    if "occurred_at" in type(event).model_fields and getattr(event, "occurred_at", None) is None:
        return event.model_copy(update={"occurred_at": default})
    return event
