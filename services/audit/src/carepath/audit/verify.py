"""Verification of the log: is every stream complete, in order, unaltered, and signed?

Works on the records as the brokers hold them (topic, partition, offset, key, value), so an
auditor needs only read access to the topics and the services' public keys.

Delivery is at least once: the outbox relay republishes an event when it crashed between
publishing and marking it published, so the log may hold the same event more than once. Such a
redelivered copy is counted, not reported; only a *different* event under an id already seen is.
"""

import hashlib
from dataclasses import dataclass, field

from pydantic import ValidationError

from carepath.chassis.evidence import Verifier, producer_problems
from carepath.chassis.evidence_pool import Evidence, evidence_of
from carepath.contracts import CloudEvent


@dataclass(frozen=True, slots=True)  # slots: one is kept per event id, for a million events
class Location:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class Finding:
    """Something wrong with the log, where it is, and what."""

    location: Location
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.location} {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class _FirstCopy:
    """What is kept of the first copy of each event: a fingerprint of its evidence, and where."""

    fingerprint: bytes
    location: Location


def evidence_fingerprint(event_digest: str, signature: str | None) -> bytes:
    """A 32-byte fingerprint of everything an event attests: every attribute and its data (its
    digest, which the signature covers) and the signature itself.

    Two copies with the same fingerprint are the same event, even if their JSON differs in key
    order, spacing or time-zone notation; headers are not evidence and play no part.
    """
    return hashlib.sha256(f"{event_digest}/{signature or ''}".encode()).digest()


@dataclass
class _Stream:
    sequence: int = 0
    digest: str | None = None
    location: Location | None = None


@dataclass
class LogVerifier:
    """Feed it every record in log order (per partition); it collects the findings."""

    verifier: Verifier
    findings: list[Finding] = field(default_factory=list)
    events: int = 0
    redeliveries: int = 0
    _streams: dict[str, _Stream] = field(default_factory=dict)
    # keyed by the id's 16 bytes, holding a digest rather than the value: memory stays small
    _first_copies: dict[bytes, _FirstCopy] = field(default_factory=dict)

    @property
    def streams(self) -> int:
        return len(self._streams)

    def check(
        self, location: Location, value: bytes | None, evidence: Evidence | None = None
    ) -> None:
        """Check one record; a redelivered copy is counted and otherwise skipped. `evidence`:
        its digest, signature and schema checked already (by an `EvidencePool`'s worker)."""
        self.events += 1
        try:
            event = CloudEvent.from_json(value or b"")
        except ValidationError as error:
            self._found(location, "not a CloudEvent", f"{error.error_count()} invalid attributes")
            return
        evidence = evidence or evidence_of(self.verifier, event)
        if self._id_seen_before(location, event, evidence.digest):
            return  # its first copy was checked; checking a copy again would break the chain
        if evidence.schema_problem:
            self._found(location, "schema", evidence.schema_problem)
        self._producer(location, event)
        self._chain(location, event, evidence.digest)
        if evidence.signature_problem:
            self._found(location, "signature", evidence.signature_problem)

    def _id_seen_before(self, location: Location, event: CloudEvent, event_digest: str) -> bool:
        fingerprint = evidence_fingerprint(event_digest, event.signature)
        first = self._first_copies.get(event.id.bytes)
        if first is None:
            self._first_copies[event.id.bytes] = _FirstCopy(fingerprint, location)
            return False
        if first.fingerprint == fingerprint and first.location.topic == location.topic:
            self.redeliveries += 1
            return True
        # the relay only ever republishes the same event to the same topic
        what = (
            "a different event with the same id"
            if first.fingerprint != fingerprint
            else "a copy, in another topic,"
        )
        self._found(location, "duplicate", f"{what} of {first.location} (event {event.id})")
        return True

    def _producer(self, location: Location, event: CloudEvent) -> None:
        """The service that signed the event may produce its type, on that topic (the rule the
        consumers apply too: `carepath.chassis.evidence.producer_problems`)."""
        for problem in producer_problems(location.topic, event):
            self._found(location, "producer", problem)

    def _chain(self, location: Location, event: CloudEvent, event_digest: str) -> None:
        stream = self._streams.setdefault(event.streamid, _Stream())
        expected = stream.sequence + 1
        if event.streamsequence > expected:
            missing = (
                f"{expected}"
                if event.streamsequence == expected + 1
                else f"{expected}-{event.streamsequence - 1}"
            )
            self._found(
                location,
                "gap",
                f"stream {event.streamid}: sequence {event.streamsequence} follows "
                f"{stream.sequence}; missing {missing}",
            )
        elif event.streamsequence < expected:
            self._found(
                location,
                "order",
                f"stream {event.streamid}: sequence {event.streamsequence} after "
                f"{stream.sequence} (at {stream.location})",
            )
        if event.prevhash != stream.digest:
            self._found(
                location,
                "chain",
                f"stream {event.streamid}: prevhash does not match the event before it "
                f"(an event was altered, removed or reordered)",
            )
        stream.sequence = max(stream.sequence, event.streamsequence)
        stream.digest, stream.location = event_digest, location

    def _found(self, location: Location, kind: str, detail: str) -> None:
        self.findings.append(Finding(location, kind, detail))
