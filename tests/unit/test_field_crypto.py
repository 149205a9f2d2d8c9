"""Field encryption with a patient's data key, and the key store that destroys it on erasure."""

from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from carepath.chassis.database import create_engine, create_tables, session_factory
from carepath.chassis.errors import NotFound, PatientErased
from carepath.chassis.field_crypto import (
    UndecryptableField,
    decrypt_field,
    encrypt_field,
    is_token,
    new_data_key,
)
from carepath.chassis.patient_keys import KeyEncryptionKey, PatientKeys
from carepath.chassis.sealing import seal
from carepath.contracts import registry
from carepath.contracts.session import PreparationSessionCompleted


def test_a_field_comes_back_as_it_went_in_and_is_not_readable_on_the_way() -> None:
    key, event = new_data_key(), uuid4()
    token = encrypt_field(key, event, "given_name", "Marguerite")
    assert is_token(token) and "Marguerite" not in token
    assert decrypt_field(key, event, "given_name", token) == "Marguerite"
    themes = ["grief", "letting go"]
    assert (
        decrypt_field(key, event, "themes", encrypt_field(key, event, "themes", themes)) == themes
    )


def test_the_same_value_twice_gives_two_different_tokens() -> None:
    key, event = new_data_key(), uuid4()
    assert encrypt_field(key, event, "notes", "x") != encrypt_field(key, event, "notes", "x")


@pytest.mark.parametrize("moved_to", ["another event", "another field", "another key"])
def test_a_token_opens_only_with_its_key_for_its_event_and_field(moved_to: str) -> None:
    key, event = new_data_key(), uuid4()
    token = encrypt_field(key, event, "family_name", "Okafor")
    other = {
        "another event": (key, uuid4(), "family_name"),
        "another field": (key, event, "given_name"),
        "another key": (new_data_key(), event, "family_name"),
    }[moved_to]
    with pytest.raises(UndecryptableField):
        decrypt_field(*other, token)


def test_an_altered_token_is_refused() -> None:
    key, event = new_data_key(), uuid4()
    token = encrypt_field(key, event, "notes", "slept well")
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(UndecryptableField):
        decrypt_field(key, event, "notes", altered)


async def test_a_patient_keeps_one_key_until_erasure_destroys_it(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    await create_tables(engine)
    keys = PatientKeys(engine, KeyEncryptionKey("kek-1", new_data_key()))
    patient, event = uuid4(), uuid4()
    try:
        key = await keys.data_key(patient)
        assert await keys.data_key(patient) == key  # the same key each time
        token = encrypt_field(key, event, "given_name", "Marguerite")

        async with session_factory(engine)() as session, session.begin():
            await keys.erase(patient, session)
        await keys.purge_erased()

        with pytest.raises(PatientErased):
            await keys.data_key(patient)
        assert await keys.data_key(uuid4()) != key  # others are not affected
    finally:
        await engine.dispose()
    assert is_token(token)  # what remains is only the token, which nothing opens now


def test_a_key_encryption_key_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyEncryptionKey("short", b"0123456789")


async def test_the_key_service_gives_no_key_for_a_patient_it_does_not_know(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    await create_tables(engine)
    keys = PatientKeys(engine, KeyEncryptionKey("kek-1", new_data_key()))
    try:
        with pytest.raises(NotFound):
            await keys.data_key(uuid4(), create=False)
    finally:
        await engine.dispose()


def test_a_sealed_field_reads_protected_without_a_key_and_a_list_as_one_mask() -> None:
    event_id, key = uuid4(), new_data_key()
    held = {
        "patient_id": str(uuid4()),
        "course_id": str(uuid4()),
        "preparation_session_id": str(uuid4()),
        "held_at": "2026-11-20T10:00:00Z",
        "intentions": ["sleep through the night"],
        "mindfulness_practice": "body scan",
        "modality": "act",
        "therapist_notes": None,
        "occurred_at": "2026-11-20T10:00:00Z",
    }
    event_type = PreparationSessionCompleted.event_type()
    stored = seal(held, event_type, event_id, key)
    read = registry.parse(event_type, stored)
    assert isinstance(read, PreparationSessionCompleted)
    assert read.intentions == ["protected"] and read.mindfulness_practice == "protected"
    assert read.therapist_notes is None  # nothing was there: nothing is masked
    with pytest.raises(ValidationError):  # a sealed type carrying a field in clear is refused
        registry.parse(event_type, held)
