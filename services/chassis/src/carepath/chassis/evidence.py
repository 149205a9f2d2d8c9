"""Tamper evidence at the source: each event carries `prevhash`, the SHA-256 of the previous
event of its stream, and `signature`, the producing service's Ed25519 signature over its own
digest. Altering, removing, reordering or injecting an event breaks a chain or a signature.

The digest of an event is the SHA-256 of its canonical JSON (keys sorted, no spaces, UTF-8,
absent attributes left out) without the `signature` attribute. Each event is signed on its own
(not in checkpoints) so any single record can be checked where it stands; Ed25519 verifies tens
of thousands of signatures per second on one core, which keeps `verify` close to the speed of
reading the log.
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

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
from carepath.contracts import CloudEvent

PUBLIC_KEY_SUFFIX = ".pub"


def canonical(document: dict[str, Any]) -> bytes:
    """The canonical JSON bytes of a document."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(event: CloudEvent) -> str:
    """The hex SHA-256 of an event's canonical form, without its signature."""
    document = event.model_dump(mode="json", exclude_none=True, exclude={"signature"})
    return hashlib.sha256(canonical(document)).hexdigest()


class Signer:
    """A service's signing key."""

    def __init__(self, service: str, key: Ed25519PrivateKey) -> None:
        self.service = service
        self._key = key

    def sign(self, event_digest: str) -> str:
        """The base64 Ed25519 signature of a digest."""
        return base64.b64encode(self._key.sign(bytes.fromhex(event_digest))).decode()

    def public_key(self) -> str:
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()


def load_signer(service: str, keys_dir: Path, key_file: Path | None = None) -> Signer:
    """The service's key: `key_file` when configured (production), else one generated once
    under `keys_dir` for local runs. The public key goes to `keys_dir/<service>.pub`."""
    path = key_file or keys_dir / f"{service}.key"
    if not path.exists():
        if key_file is not None:
            raise FileNotFoundError(f"signing key {key_file} does not exist")
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        create_private_file(path, pem)  # mode 0600; another instance's key if it came first
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    signer = Signer(service, key)
    public = keys_dir / f"{service}{PUBLIC_KEY_SUFFIX}"
    replace_file(public, (signer.public_key() + "\n").encode())  # an auditor never reads half
    return signer


class Verifier:
    """Checks signatures with the public keys an auditor is given (one file per service)."""

    def __init__(self, public_keys: dict[str, str]) -> None:
        self._keys = {
            service: Ed25519PublicKey.from_public_bytes(base64.b64decode(key))
            for service, key in public_keys.items()
        }

    @classmethod
    def from_directory(cls, keys_dir: Path) -> "Verifier":
        return cls(
            {p.stem: p.read_text().strip() for p in sorted(keys_dir.glob(f"*{PUBLIC_KEY_SUFFIX}"))}
        )

    @property
    def services(self) -> list[str]:
        return sorted(self._keys)

    def problem(self, event: CloudEvent) -> str | None:
        """Why the event's signature does not hold, or None when it does."""
        service = event.source.removeprefix("/carepath/")
        key = self._keys.get(service)
        if key is None:
            return f"no public key for source {event.source}"
        if not event.signature:
            return "unsigned"
        try:
            key.verify(base64.b64decode(event.signature), bytes.fromhex(digest(event)))
        except (InvalidSignature, ValueError):
            return f"signature does not verify with the key of {service}"
        return None
