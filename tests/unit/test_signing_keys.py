"""Signing keys: each signature names its key, a service's retired keys still verify what they
signed, a private key is 0600 from its creation and never beside the shared public keys, and a
record must come from a service that may produce it there."""

import base64
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.evidence import (
    Provenance,
    Signer,
    UnverifiedEvent,
    Verifier,
    dev_key_file,
    digest,
    load_signer,
)
from carepath.chassis.faults import describe
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts import CloudEvent
from carepath.contracts.eligibility import ScreeningStarted
from carepath.contracts.topics import ELIGIBILITY_EVENTS, INTAKE_EVENTS

DETERMINED = "carepath.eligibility.EligibilityDetermined.v1"


def key_file(folder: Path, name: str) -> Path:
    """A configured signing key (CAREPATH_SIGNING_KEY_FILE), as an operator provides it."""
    path = folder / f"{name}.pem"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    return path


def event(source: str = "/carepath/eligibility", event_type: str = DETERMINED) -> CloudEvent:
    return CloudEvent(
        id=uuid4(),
        source=source,
        type=event_type,
        time=datetime(2026, 11, 25, 9, tzinfo=UTC),
        subject=str(uuid4()),
        data={"outcome": "eligible"},
        sequence=2,
        streamid="eligibility-x",
        correlationid="c",
        actor="service:eligibility",
    )


def signed(signer: Signer, draft: CloudEvent, *, with_key_id: bool = True) -> CloudEvent:
    """Signed as the event store signs: the key id is an attribute, so the digest covers it."""
    draft = draft.model_copy(update={"keyid": signer.key_id if with_key_id else None})
    return draft.model_copy(update={"signature": signer.sign(digest(draft))})


def tampered(original: CloudEvent, **changes: Any) -> CloudEvent:
    return original.model_copy(update=changes)


def test_a_generated_private_key_is_0600_from_its_creation_and_never_chmod_ed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_chmod(*_: Any, **__: Any) -> None:
        raise AssertionError("a key file must be created private, not made private later")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    old_umask = os.umask(0)  # the most permissive umask: the mode must come from the open itself
    try:
        signer = load_signer("session", tmp_path / "keys")
    finally:
        os.umask(old_umask)

    private = dev_key_file("session", tmp_path / "keys")
    assert private.exists() and stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert not private.is_relative_to(tmp_path / "keys")  # the shared directory: public only
    published = sorted(p.name for p in (tmp_path / "keys").iterdir())
    assert published == sorted(["session.pub", f"session.{signer.key_id}.pub"])
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in (tmp_path / "keys").iterdir())


def test_the_key_id_is_the_first_16_hex_digits_of_the_public_keys_sha256(tmp_path: Path) -> None:
    import hashlib

    signer = load_signer("intake", tmp_path / "keys")
    raw = base64.b64decode(signer.public_key())
    assert signer.key_id == hashlib.sha256(raw).hexdigest()[:16]


def test_after_a_rotation_events_signed_with_the_retired_key_and_the_new_one_verify(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    old = load_signer("eligibility", keys, key_file(tmp_path, "old"))
    before = signed(old, event())
    new = load_signer("eligibility", keys, key_file(tmp_path, "new"))  # configured, restarted
    after = signed(new, event())

    assert (keys / "eligibility.pub").read_text().strip() == new.public_key()  # current
    assert (keys / f"eligibility.{old.key_id}.pub").read_text().strip() == old.public_key()
    verifier = Verifier.from_directory(keys)
    assert verifier.key_ids("eligibility") == sorted([old.key_id, new.key_id])
    assert verifier.problem(before) is None and verifier.problem(after) is None
    # each is checked with exactly the key it names: naming the other key does not verify
    assert verifier.problem(tampered(before, keyid=new.key_id)) == (
        f"signature does not verify with the key {new.key_id} of eligibility"
    )


def test_an_auditors_old_key_directory_holding_only_service_pub_still_verifies(
    tmp_path: Path,
) -> None:
    signer = load_signer("eligibility", tmp_path / "keys")
    legacy = tmp_path / "auditor"
    legacy.mkdir()
    (legacy / "eligibility.pub").write_text(signer.public_key() + "\n")

    verifier = Verifier.from_directory(legacy)
    assert verifier.problem(signed(signer, event())) is None
    assert verifier.problem(signed(signer, event(), with_key_id=False)) is None


def test_an_event_from_before_key_ids_is_tried_against_each_key_of_its_service(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    old = load_signer("eligibility", keys, key_file(tmp_path, "old"))
    before_key_ids = signed(old, event(), with_key_id=False)
    load_signer("eligibility", keys, key_file(tmp_path, "new"))
    intruder = Signer("eligibility", Ed25519PrivateKey.generate())

    verifier = Verifier.from_directory(keys)
    assert "keyid" not in before_key_ids.model_dump(exclude_none=True)
    assert verifier.problem(before_key_ids) is None
    assert verifier.problem(signed(intruder, event(), with_key_id=False)) == (
        "signature does not verify with the keys of eligibility"
    )


def test_an_unknown_key_id_is_named_as_such(tmp_path: Path) -> None:
    load_signer("eligibility", tmp_path / "keys")
    intruder = Signer("eligibility", Ed25519PrivateKey.generate())

    problem = Verifier.from_directory(tmp_path / "keys").problem(signed(intruder, event()))
    assert problem == f"unknown key id {intruder.key_id} of eligibility"


def test_an_altered_key_id_or_a_missing_signature_does_not_verify(tmp_path: Path) -> None:
    signer = load_signer("eligibility", tmp_path / "keys")
    genuine = signed(signer, event())
    verifier = Verifier.from_directory(tmp_path / "keys")

    assert verifier.problem(tampered(genuine, signature=None)) == "unsigned"
    assert verifier.problem(tampered(genuine, signature="not base64!")) is not None
    assert verifier.problem(tampered(genuine, data={"outcome": "ineligible"})) is not None
    assert digest(genuine) != digest(tampered(genuine, keyid=None))  # the digest covers it


def test_an_envelope_without_a_key_id_parses_and_keeps_its_digest() -> None:
    old = event()
    wire = old.to_json()
    assert b"keyid" not in wire
    assert CloudEvent.from_json(wire).keyid is None
    assert digest(CloudEvent.from_json(wire)) == digest(old)


async def test_the_event_store_stamps_the_key_id_it_signs_with(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'eligibility.db'}")
    await create_tables(engine)
    signer = load_signer("eligibility", tmp_path / "keys")
    store = EventStore(engine, signer)
    patient = uuid4()
    try:
        recorded = await store.append(
            f"eligibility-{patient}",
            0,
            [ScreeningStarted(patient_id=patient, intake_completed_event_id=uuid4())],
            subject=str(patient),
            metadata=EventMetadata(
                source="/carepath/eligibility",
                actor="service:eligibility",
                correlation_id="c",
            ),
        )
        [reloaded] = await store.load(f"eligibility-{patient}")
    finally:
        await engine.dispose()

    wire = reloaded.to_cloud_event()
    assert wire.keyid == signer.key_id and wire == recorded[0].to_cloud_event()
    assert Verifier.from_directory(tmp_path / "keys").problem(wire) is None


def test_intakes_genuine_key_cannot_vouch_for_an_eligibility_decision(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    intake = load_signer("intake", keys)
    eligibility = load_signer("eligibility", keys)
    provenance = Provenance(keys)

    forged = signed(intake, event(source="/carepath/intake"))
    with pytest.raises(UnverifiedEvent) as refused:
        provenance.check(ELIGIBILITY_EVENTS.name, forged)
    assert str(refused.value) == (
        f"/carepath/intake may not produce {DETERMINED}: only /carepath/eligibility"
    )
    with pytest.raises(UnverifiedEvent, match=r"belongs on carepath\.eligibility\.events"):
        provenance.check(INTAKE_EVENTS.name, signed(eligibility, event()))
    provenance.check(ELIGIBILITY_EVENTS.name, signed(eligibility, event()))  # genuine: accepted
    # what reaches logs and dead-letter headers names services and types, no values
    assert describe(refused.value).message == str(refused.value)


def test_provenance_rereads_the_key_directory_when_a_new_service_or_key_appears(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    provenance = Provenance(keys)  # before any service started: no keys yet
    eligibility = load_signer("eligibility", keys, key_file(tmp_path, "first"))
    provenance.check(ELIGIBILITY_EVENTS.name, signed(eligibility, event()))

    rotated = load_signer("eligibility", keys, key_file(tmp_path, "second"))
    provenance.check(ELIGIBILITY_EVENTS.name, signed(rotated, event()))
    provenance.check(ELIGIBILITY_EVENTS.name, signed(eligibility, event()))  # still: retired

    intruder = Signer("eligibility", Ed25519PrivateKey.generate())
    with pytest.raises(UnverifiedEvent, match="unknown key id"):
        provenance.check(ELIGIBILITY_EVENTS.name, signed(intruder, event()))


def test_a_file_that_holds_no_key_is_named_for_auditors_and_left_out_by_consumers(
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    signer = load_signer("eligibility", keys)
    (keys / "session.pub").write_text("not a key\n")

    with pytest.raises(ValueError, match=r"session\.pub"):
        Verifier.from_directory(keys)
    Provenance(keys).check(ELIGIBILITY_EVENTS.name, signed(signer, event()))
