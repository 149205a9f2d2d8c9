"""Tamper evidence at the source: each event carries `prevhash`, the SHA-256 of the previous
event of its stream, and `signature`, the producing service's Ed25519 signature over its own
digest. Altering, removing, reordering or injecting an event breaks a chain or a signature.

The digest of an event is the SHA-256 of its canonical JSON without the `signature` attribute
(absent attributes left out), in the form its `digestalg` names: `jcs-sha256`, RFC 8785
(JSON Canonicalization Scheme), which any language's JCS library reproduces byte for byte
(envelope version 2; contracts/README.md has a test vector); absent, the legacy form of version 1
(Python's `json.dumps` with sorted keys, no spaces, UTF-8), so that every event signed before still
verifies. `digestalg` is inside what is signed: removing it to downgrade breaks the signature.
Each event is signed on its own (not in checkpoints) so any single record can be checked where it
stands; Ed25519 verifies tens of thousands of signatures per second on one core, which keeps
`verify` close to the speed of reading the log.

Keys: each signature names the key that made it (`keyid`, the first 16 hex digits of the SHA-256
of the raw public key), so a service's key can be rotated while the events signed with the old
one still verify. A service publishes its current public key as `<service>.pub` and every key it
has used as `<service>.<keyid>.pub`; when it starts with a new key, the key it published before
stays published as retired. A record must be signed by a key of the service named in its
`source`, and that service must be one that may produce its type, on that topic: the consumers
check both before applying a record (`Provenance`), the auditors' `verify` too.
"""

import base64
import binascii
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from carepath.chassis.files import create_private_file, replace_file
from carepath.contracts import ALL_TOPICS, CloudEvent, registry
from carepath.contracts.envelope import JCS_SHA256
from carepath.contracts.events import UnknownEventType

PUBLIC_KEY_SUFFIX = ".pub"
KEY_ID_LENGTH = 16  # hex digits of the public key's SHA-256
ACCESS_CONTEXT = "access"  # record-access events: every service produces them
CAREPATH_TOPICS = frozenset(topic.name for topic in ALL_TOPICS)

log = logging.getLogger(__name__)


class UnverifiedEvent(Exception):
    """A record whose signature does not hold, or whose signer may not produce it there. Its
    message names services, types, topics and key ids only, never a value of the record."""


class UnknownDigest(ValueError):
    """An event whose `digestalg` this verifier does not know, or whose values the algorithm
    cannot represent (JCS: integers beyond 2**53, non-finite numbers)."""


def canonical(document: dict[str, Any]) -> bytes:
    """The legacy canonical JSON bytes of a document (keys sorted, no spaces, UTF-8)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def jcs(document: dict[str, Any]) -> bytes:
    """The RFC 8785 canonical JSON bytes of a document.

    Most of our documents are canonicalised by the standard library's C encoder, three times as
    fast as the `rfc8785` package: for ASCII keys, integers within +-2**53 and floats between
    1e-4 and 1e16 (or integral), the two agree byte for byte (sorted keys, ES6 number text,
    the same string escapes). Any other document goes to `rfc8785` (a property test holds the
    two to the same bytes)."""
    try:
        return json.dumps(
            _plain_numbers(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (_NotPlain, UnicodeEncodeError):
        pass
    try:
        return rfc8785.dumps(document)
    except (rfc8785.CanonicalizationError, ValueError) as error:  # no values in the message
        raise UnknownDigest(f"not representable in {JCS_SHA256}: {type(error).__name__}") from None


class _NotPlain(Exception):
    """A value on which Python's JSON text and RFC 8785's may differ."""


_SAFE_INTEGER = 2**53
_PLAIN_FLOATS = (1e-4, 1e16)  # where `repr` and ES6 both write plain decimals, same digits


def _plain_numbers(value: Any) -> Any:
    """`value` with integral floats as integers (ES6 writes 40.0 as 40); `_NotPlain` for
    floats outside `_PLAIN_FLOATS`, larger integers and keys that are not ASCII (RFC 8785
    sorts keys by UTF-16 code units)."""
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, float):
        if value.is_integer():  # from 2**53 on every float is one, and `repr` adds ".0"
            if abs(value) < _SAFE_INTEGER:
                return int(value)
            raise _NotPlain
        if _PLAIN_FLOATS[0] <= abs(value) < _PLAIN_FLOATS[1]:
            return value
        raise _NotPlain
    if isinstance(value, int):
        if abs(value) < _SAFE_INTEGER:
            return value
        raise _NotPlain
    if isinstance(value, dict):
        if not all(key.isascii() for key in value):
            raise _NotPlain
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    raise _NotPlain


def digest(event: CloudEvent) -> str:
    """The hex SHA-256 of an event as published, without its signature (with its key id), in
    the canonical form its `digestalg` names. Raises `UnknownDigest` for another algorithm."""
    document = event.model_dump(mode="json", exclude_none=True, exclude={"signature"})
    if event.digestalg is None:
        return hashlib.sha256(canonical(document)).hexdigest()
    if event.digestalg == JCS_SHA256:
        return hashlib.sha256(jcs(document)).hexdigest()
    shown = event.digestalg if event.digestalg.isascii() and event.digestalg.isprintable() else "?"
    raise UnknownDigest(f"unknown digest algorithm {shown[:40]!r}")


def key_id(public_key: Ed25519PublicKey) -> str:
    """The id of a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KEY_ID_LENGTH]


class Signer:
    """A service's signing key."""

    def __init__(self, service: str, key: Ed25519PrivateKey) -> None:
        self.service = service
        self._key = key
        self.key_id = key_id(key.public_key())

    def sign(self, event_digest: str) -> str:
        """The base64 Ed25519 signature of a digest."""
        return base64.b64encode(self._key.sign(bytes.fromhex(event_digest))).decode()

    def public_key(self) -> str:
        """The base64 of the raw public key, as published."""
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()


def dev_key_file(service: str, keys_dir: Path) -> Path:
    """Where a local run keeps a service's generated private key: beside the public key
    directory, never in it (that one is shared), e.g. `var/keys.private/intake.key`."""
    return keys_dir.with_name(f"{keys_dir.name}.private") / f"{service}.key"


def load_signer(service: str, keys_dir: Path, key_file: Path | None = None) -> Signer:
    """The service's key: `key_file` when configured (production), else one generated once for
    local runs (`dev_key_file`, mode 0600 from its creation). Its public key is published under
    `keys_dir` (see `publish_public_key`)."""
    path = key_file or dev_key_file(service, keys_dir)
    if not path.exists():
        if key_file is not None:
            raise FileNotFoundError(f"signing key {key_file} does not exist")
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_private_file(path, pem)  # mode 0600; another instance's key if it came first
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    signer = Signer(service, key)
    publish_public_key(keys_dir, service, signer.public_key())
    return signer


def publish_public_key(keys_dir: Path, service: str, public_key: str) -> None:
    """Publish `public_key` as the service's current key (`<service>.pub`) and under its id
    (`<service>.<keyid>.pub`). The key published as current before, if another, keeps a file
    under its id: events it signed still verify. A file that already holds the right key is not
    rewritten, so a read-only directory prepared by the operator works too."""
    current = keys_dir / f"{service}{PUBLIC_KEY_SUFFIX}"
    previous = current.read_text().strip() if current.exists() else None
    if previous and previous != public_key:
        try:
            _publish(keys_dir / f"{service}.{_id_of(previous)}{PUBLIC_KEY_SUFFIX}", previous)
        except ValueError:
            pass  # not a key: nothing to keep
    _publish(keys_dir / f"{service}.{_id_of(public_key)}{PUBLIC_KEY_SUFFIX}", public_key)
    _publish(current, public_key)


def _publish(path: Path, public_key: str) -> None:
    if not (path.exists() and path.read_text().strip() == public_key):
        replace_file(path, (public_key + "\n").encode())  # an auditor never reads half


def _public_key(encoded: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as error:
        raise ValueError("not a base64 raw Ed25519 public key") from error


def _id_of(encoded: str) -> str:
    return key_id(_public_key(encoded))


class Verifier:
    """Checks signatures with the public keys an auditor is given: each service's current and
    retired keys, by key id."""

    def __init__(self, public_keys: Mapping[str, str | Iterable[str]]) -> None:
        self._keys: dict[str, dict[str, Ed25519PublicKey]] = {}
        for service, encoded in public_keys.items():
            for one in [encoded] if isinstance(encoded, str) else encoded:
                key = _public_key(one)
                self._keys.setdefault(service, {})[key_id(key)] = key

    @classmethod
    def from_directory(cls, keys_dir: Path, *, strict: bool = True) -> "Verifier":
        """The keys of a directory of `<service>.pub` and `<service>.<keyid>.pub` files. A file
        that holds no key is an error, or (not `strict`) left out."""
        keys: dict[str, list[str]] = {}
        for path in sorted(keys_dir.glob(f"*{PUBLIC_KEY_SUFFIX}")):
            encoded = path.read_text().strip()
            try:
                _public_key(encoded)
            except ValueError as error:
                if strict:
                    raise ValueError(f"{path}: {error}") from None
                log.warning("%s holds no public key; left out", path)
                continue
            keys.setdefault(path.name.split(".")[0], []).append(encoded)
        return cls(keys)

    @property
    def services(self) -> list[str]:
        return sorted(self._keys)

    def key_ids(self, service: str) -> list[str]:
        """The ids of a service's keys, current and retired."""
        return sorted(self._keys.get(service, {}))

    def knows_key_of(self, event: CloudEvent) -> bool:
        """True when it holds a key of the event's source (the one its key id names, if any)."""
        keys = self._keys.get(_service_of(event), {})
        return event.keyid in keys if event.keyid is not None else bool(keys)

    def problem(self, event: CloudEvent, event_digest: str | None = None) -> str | None:
        """Why the event's signature does not hold, or None when it does. An event with a key id
        is checked with exactly that key; one without (signed before key ids) with each key of
        its service. `event_digest`: its digest, when the caller has computed it already."""
        service = _service_of(event)
        keys = self._keys.get(service)
        if not keys:
            return f"no public key for source {event.source}"
        if not event.signature:
            return "unsigned"
        if event.keyid is not None and event.keyid not in keys:
            return f"unknown key id {event.keyid} of {service}"
        candidates = [keys[event.keyid]] if event.keyid is not None else keys.values()
        try:
            signature = base64.b64decode(event.signature, validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        try:
            message = bytes.fromhex(event_digest or digest(event))
        except UnknownDigest as error:
            return str(error)
        for key in candidates:
            try:
                key.verify(signature, message)
                return None
            except InvalidSignature:
                continue
        which = f"key {event.keyid}" if event.keyid is not None else "keys"
        return f"signature does not verify with the {which} of {service}"


def _service_of(event: CloudEvent) -> str:
    return event.source.removeprefix("/carepath/")


def producer_problems(topic: str, event: CloudEvent) -> list[str]:
    """Why the service named in `source` may not have produced the event on `topic` (empty: it
    may). A context's events come from that context's service only (any service records access
    events), and each type lives on its context's topic. A valid signature by the wrong service
    is no evidence: intake's key cannot vouch for a dose. An unknown type is left to the schema
    check."""
    try:
        model = registry.model_for(event.type)
    except UnknownEventType:
        return []
    problems = []
    if model.context != ACCESS_CONTEXT and _service_of(event) != model.context:
        problems.append(
            f"{event.source} may not produce {event.type}: only /carepath/{model.context}"
        )
    home = model.topic().name
    if topic in CAREPATH_TOPICS and topic != home:
        problems.append(f"{event.type} belongs on {home}")
    return problems


class Provenance:
    """What a consumer asks of each record before applying it: signed by a key of the service
    in its `source`, a service that may produce its type on that topic. The public keys are read
    from `keys_dir`, and read again when a record names a service or key id not seen yet (a
    service publishes its key when it starts) and the directory changed since."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self._listing = self._list()
        self._verifier = Verifier.from_directory(keys_dir, strict=False)

    def check(self, topic: str, event: CloudEvent) -> None:
        """Raise `UnverifiedEvent` when the record is not what it claims to be."""
        if not self._verifier.knows_key_of(event):
            self._reload()
        if problem := self._verifier.problem(event):
            raise UnverifiedEvent(problem)
        if problems := producer_problems(topic, event):
            raise UnverifiedEvent("; ".join(problems))

    def _list(self) -> tuple[int, tuple[str, ...]] | None:
        try:
            changed = self.keys_dir.stat().st_mtime_ns
            names = os.listdir(self.keys_dir)
        except FileNotFoundError:
            return None
        return changed, tuple(sorted(n for n in names if n.endswith(PUBLIC_KEY_SUFFIX)))

    def _reload(self) -> None:
        listing = self._list()
        if listing != self._listing:  # a flood of forged key ids does not reread each time
            self._listing, self._verifier = (
                listing,
                Verifier.from_directory(self.keys_dir, strict=False),
            )
