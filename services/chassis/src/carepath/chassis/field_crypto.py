"""Encryption of one field of one event with its patient's data key (crypto-shredding).

A protected field (identifying or free text: `carepath.contracts.privacy`) is stored and sent as
a token `enc:v1:<base64url(nonce | ciphertext)>`: AES-256-GCM over the field's JSON value, with
the event id and the field's name as associated data, so a ciphertext cannot be moved to another
event or field unnoticed. Destroying the patient's data key (erasure) leaves every token
undecryptable, while the event, its hash chain and its signature (over the stored form) stay
verifiable.
"""

import base64
import json
import os
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CIPHERTEXT_PREFIX = "enc:v1:"
NONCE_BYTES = 12  # GCM's standard nonce; random per field, so never reused under one key
KEY_BYTES = 32  # AES-256


class UndecryptableField(ValueError):
    """A token that its key does not open: another key, an altered token, or another event's."""


def new_data_key() -> bytes:
    """A fresh 256-bit data key for one patient."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def is_token(value: object) -> bool:
    """True when `value` is an encrypted field."""
    return isinstance(value, str) and value.startswith(CIPHERTEXT_PREFIX)


def cipher(key: bytes) -> AESGCM:
    """The AES-256-GCM cipher of a data key, to seal or open several fields with it."""
    return AESGCM(key)


def encrypt_field(key: bytes | AESGCM, event_id: UUID, field: str, value: Any) -> str:
    """The token of `value` (any JSON value) for `field` of event `event_id`."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = aead.encrypt(nonce, plaintext, _associated_data(event_id, field))
    return CIPHERTEXT_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_field(key: bytes | AESGCM, event_id: UUID, field: str, token: str) -> Any:
    """The JSON value sealed in `token`; `UndecryptableField` if the key or context is wrong."""
    if not is_token(token):
        raise UndecryptableField(f"{field}: not an encrypted field")
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        raw = base64.urlsafe_b64decode(token[len(CIPHERTEXT_PREFIX) :])
        plaintext = aead.decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated_data(event_id, field)
        )
    except (InvalidTag, ValueError) as error:
        raise UndecryptableField(f"{field}: the key does not open it") from error
    return json.loads(plaintext)


def _associated_data(event_id: UUID, field: str) -> bytes:
    return f"carepath/{event_id}/{field}".encode()
