"""Sealing the protected fields of events with their patient's data key, and opening them.

An event type that is sealed (`carepath.contracts.privacy`) has its identifying and free-text
fields stored and sent as values encrypted with the patient's own data key (`field_crypto`):
the event store seals them before the event is hashed and signed, so the evidence covers the
sealed form and stays verifiable after the key is destroyed. The store opens them again when a
service loads its own streams. Which key: a `Keyring`: the key store itself in the service that
owns it (intake, `patient_keys`), the key service's HTTP API in every other (`remote_keys`).
"""

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.errors import PatientErased
from carepath.chassis.field_crypto import cipher, decrypt_field, encrypt_field
from carepath.contracts import DomainEvent, registry
from carepath.contracts.privacy import is_sealed, is_sealed_value, protected_fields

__all__ = [
    "KeyServiceUnavailable",
    "Keyring",
    "PatientErased",
    "is_sealed_payload",
    "needs_sealing",
    "seal",
    "unseal",
]


class KeyServiceUnavailable(ConnectionError):
    """The key service could not be asked for a patient's key (transient: retried)."""


class Keyring(Protocol):
    """Where a service gets a patient's data key."""

    async def data_key(
        self, patient_id: UUID, *, session: AsyncSession | None = None, create: bool = True
    ) -> bytes:
        """The patient's data key; `PatientErased` once it was destroyed. `session`: the
        caller's transaction, which a key store in the same database takes part in; `create`:
        make the key of a patient who has none yet (to seal), or not (to open)."""
        ...

    async def prepare_keys(self, patient_ids: Sequence[UUID], session: AsyncSession) -> None:
        """Get ready the keys of several patients about to be sealed for, at once (a group of
        commands), so that `data_key` in this transaction asks nothing more. Errors are left
        for `data_key` to raise, patient by patient."""
        ...


def needs_sealing(event: DomainEvent) -> bool:
    """True when `event` has a protected field with a value, to be sealed before it is stored."""
    model = type(event)
    return is_sealed(model) and any(
        getattr(event, name) is not None for name in protected_fields(model)
    )


def seal(payload: dict[str, Any], event_type: str, event_id: UUID, key: bytes) -> dict[str, Any]:
    """`payload` (an event's JSON form) with each protected field that has a value sealed."""
    model = registry.model_for(event_type)
    if not is_sealed(model):
        return payload
    sealed, aead = dict(payload), cipher(key)
    for name in protected_fields(model):
        if sealed.get(name) is not None:
            sealed[name] = encrypt_field(aead, event_id, name, sealed[name])
    return sealed


def is_sealed_payload(event_type: str, payload: dict[str, Any]) -> bool:
    """True when a stored payload has sealed fields to open."""
    model = registry.model_for(event_type)
    return is_sealed(model) and any(
        is_sealed_value(payload.get(name)) for name in protected_fields(model)
    )


def unseal(payload: dict[str, Any], event_type: str, event_id: UUID, key: bytes) -> dict[str, Any]:
    """A stored payload with its sealed fields decrypted; `UndecryptableField` when `key` does
    not open one (another patient's key, or an altered value)."""
    opened, aead = dict(payload), cipher(key)
    for name in protected_fields(registry.model_for(event_type)):
        if is_sealed_value(opened.get(name)):
            opened[name] = decrypt_field(aead, event_id, name, opened[name])
    return opened
