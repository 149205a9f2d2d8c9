"""Verification of the log: is every stream complete, in order, unaltered, and signed?

Works on the records as the brokers hold them (topic, partition, offset, key, value), so an
auditor needs only read access to the topics and the services' public keys.
"""

from dataclasses import dataclass, field

from pydantic import ValidationError

from carepath.chassis.evidence import Verifier, digest
from carepath.contracts import CloudEvent, registry
from carepath.contracts.events import UnknownEventType


@dataclass(frozen=True)
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
    _streams: dict[str, _Stream] = field(default_factory=dict)
    _seen: dict[str, tuple[bytes, Location]] = field(default_factory=dict)

    @property
    def streams(self) -> int:
        return len(self._streams)

    def check(self, location: Location, value: bytes | None) -> None:
        self.events += 1
        try:
            event = CloudEvent.from_json(value or b"")
        except ValidationError as error:
            self._found(location, "not a CloudEvent", f"{error.error_count()} invalid attributes")
            return
        if self._duplicate(location, event, value or b""):
            return
        self._schema(location, event)
        self._chain(location, event)
        if problem := self.verifier.problem(event):
            self._found(location, "signature", problem)

    def _duplicate(self, location: Location, event: CloudEvent, value: bytes) -> bool:
        earlier = self._seen.get(str(event.id))
        if earlier is None:
            self._seen[str(event.id)] = (value, location)
            return False
        same = "an exact duplicate" if earlier[0] == value else "a different event with the same id"
        self._found(location, "duplicate", f"{same} of {earlier[1]} (event {event.id})")
        return True

    def _schema(self, location: Location, event: CloudEvent) -> None:
        try:
            registry.parse(event.type, event.data)
        except UnknownEventType:
            self._found(location, "schema", f"unknown event type {event.type}")
        except ValidationError as error:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
            self._found(location, "schema", f"{event.type} does not validate: {fields}")

    def _chain(self, location: Location, event: CloudEvent) -> None:
        stream = self._streams.setdefault(event.streamid, _Stream())
        expected = stream.sequence + 1
        if event.sequence > expected:
            missing = (
                f"{expected}"
                if event.sequence == expected + 1
                else f"{expected}-{event.sequence - 1}"
            )
            self._found(
                location,
                "gap",
                f"stream {event.streamid}: sequence {event.sequence} follows "
                f"{stream.sequence}; missing {missing}",
            )
        elif event.sequence < expected:
            self._found(
                location,
                "order",
                f"stream {event.streamid}: sequence {event.sequence} after "
                f"{stream.sequence} (at {stream.location})",
            )
        if event.prevhash != stream.digest:
            self._found(
                location,
                "chain",
                f"stream {event.streamid}: prevhash does not match the event before it "
                f"(an event was altered, removed or reordered)",
            )
        stream.sequence = max(stream.sequence, event.sequence)
        stream.digest, stream.location = digest(event), location

    def _found(self, location: Location, kind: str, detail: str) -> None:
        self.findings.append(Finding(location, kind, detail))
