"""Evidence checked on every core. Checking a signature (Ed25519) is most of the cost of reading
a replayed log: about 100 us a record on this project's 2-core machine, against 30 us to parse
it. The auditors' `verify` and a projection's rebuild therefore hand the records to worker
processes a chunk at a time, and keep in their own process only what needs the log's order
(chains, duplicates, read models). Results come back in the order of the records, with a bounded
number of chunks in flight, so memory stays flat however long the log.

The workers are forked when the pool is made, before the caller starts any Kafka client or
thread (a fork copies no threads); with one core or `workers` 0 or 1 the checks run in the
calling process.
"""

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from pydantic import ValidationError

from carepath.chassis.evidence import (
    Provenance,
    UnknownDigest,
    UnverifiedEvent,
    Verifier,
    digest,
)
from carepath.contracts import CloudEvent, registry
from carepath.contracts.events import UnknownEventType

CHUNK = 500  # records per task: large enough that pickling is a small share of the work
AHEAD = 4  # chunks in flight per worker

T = TypeVar("T")
R = TypeVar("R")
Record = tuple[str, bytes | None]  # topic, value


@dataclass(frozen=True, slots=True)
class Evidence:
    """What `verify` learns of one event without knowing the others."""

    digest: str
    signature_problem: str | None
    schema_problem: str | None


def evidence_of(verifier: Verifier, event: CloudEvent) -> Evidence:
    """The event's digest, and why its signature or its schema does not hold (None: they do).
    An event whose digest cannot be computed has an empty one: the signature problem says why,
    and the event after it in its stream fails the chain."""
    try:
        event_digest = digest(event)
    except UnknownDigest as error:
        return Evidence("", str(error), schema_problem(event))
    return Evidence(event_digest, verifier.problem(event, event_digest), schema_problem(event))


def schema_problem(event: CloudEvent) -> str | None:
    """Why the event's data does not validate against its type (None: it does)."""
    try:
        registry.parse(event.type, event.data)
    except UnknownEventType:
        return f"unknown event type {event.type}"
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        return f"{event.type} does not validate: {fields}"
    return None


_keys_dir: Path | None = None  # a worker's keys, set when it starts
_verifier: Verifier | None = None
_provenance: Provenance | None = None


def _start_worker(keys_dir: Path) -> None:
    global _keys_dir, _verifier, _provenance
    _keys_dir, _verifier, _provenance = keys_dir, None, None  # nothing of another pool's keys


def _ready() -> None:
    """A task that makes a worker start."""


def _worker_keys() -> Path:
    if _keys_dir is None:
        raise RuntimeError("not a worker of an EvidencePool")
    return _keys_dir


def evidence_of_records(records: list[Record]) -> list[Evidence | None]:
    """In a worker: each record's `Evidence`, None where it is no CloudEvent."""
    global _verifier
    _verifier = _verifier or Verifier.from_directory(_worker_keys())
    results: list[Evidence | None] = []
    for _, value in records:
        try:
            event = CloudEvent.from_json(value or b"")
        except ValidationError:
            results.append(None)
            continue
        results.append(evidence_of(_verifier, event))
    return results


def provenance_problems(records: list[Record]) -> list[str | None]:
    """In a worker: why each record must not be applied (as `Provenance.check`, or not a
    CloudEvent), None where it may."""
    global _provenance
    _provenance = _provenance or Provenance(_worker_keys())
    results: list[str | None] = []
    for topic, value in records:
        try:
            _provenance.check(topic, CloudEvent.from_json(value or b""))
            results.append(None)
        except ValidationError:
            results.append("not a CloudEvent")
        except UnverifiedEvent as error:
            results.append(str(error))
    return results


class EvidencePool:
    """Worker processes that check records with the public keys of `keys_dir`."""

    def __init__(self, keys_dir: Path, workers: int | None = None) -> None:
        self.keys_dir = keys_dir
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._executor = (
            ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("fork"),
                initializer=_start_worker,
                initargs=(keys_dir,),
            )
            if self.workers > 1
            else None
        )
        if self._executor is None:
            _start_worker(keys_dir)
        else:  # fork every worker now, before the caller starts threads and connections
            for started in [self._executor.submit(_ready) for _ in range(self.workers)]:
                started.result()

    def __enter__(self) -> "EvidencePool":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)

    def checked(
        self,
        check: Callable[[list[Record]], list[R]],
        items: Iterable[T],
        record_of: Callable[[T], Record],
    ) -> Iterator[tuple[T, R]]:
        """Each item with the result of `check` on its record, in the order of `items`."""
        pending: deque[tuple[list[T], Future[list[R]] | list[R]]] = deque()
        chunk: list[T] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == CHUNK:
                pending.append((chunk, self._submit(check, [record_of(i) for i in chunk])))
                chunk = []
                while len(pending) > AHEAD * max(self.workers, 1):
                    yield from _results(*pending.popleft())
        if chunk:
            pending.append((chunk, self._submit(check, [record_of(i) for i in chunk])))
        while pending:
            yield from _results(*pending.popleft())

    def _submit(
        self, check: Callable[[list[Record]], list[R]], records: list[Record]
    ) -> "Future[list[R]] | list[R]":
        if self._executor is None:
            return check(records)
        return self._executor.submit(check, records)


def _results(items: list[T], done: "Future[list[R]] | list[R]") -> Iterator[tuple[T, R]]:
    results = done.result() if isinstance(done, Future) else done
    yield from zip(items, results, strict=True)
