"""Each patient's data key, wrapped by the key-encryption key, and its destruction on erasure.

A data key (AES-256) is made the first time a patient's protected field is encrypted, and stored
only wrapped (RFC 3394 AES key wrap) by the key-encryption key (KEK), which comes from
configuration: a file or the environment for local runs, a KMS in production. Erasure overwrites
the wrapped key and records when: from then on, every encrypted field of that patient, on every
topic and in every copy of a broker's disk, is noise.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from sqlalchemy import Column, DateTime, LargeBinary, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from carepath.chassis.database import session_factory
from carepath.chassis.field_crypto import KEY_BYTES, new_data_key


class PatientKeyRecord(SQLModel, table=True):
    """One patient's data key, wrapped; no key once the patient's data was erased."""

    __tablename__ = "patient_key"

    patient_id: UUID = Field(primary_key=True)
    wrapped_key: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    kek_id: str = Field(max_length=100)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


@dataclass(frozen=True)
class KeyEncryptionKey:
    """The key that wraps every data key; `id` names it, so that it can be rotated."""

    id: str
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(
                f"the key-encryption key must be {KEY_BYTES} bytes, not {len(self.key)}"
            )

    def wrap(self, data_key: bytes) -> bytes:
        return aes_key_wrap(self.key, data_key)

    def unwrap(self, wrapped: bytes) -> bytes:
        return aes_key_unwrap(self.key, wrapped)


class PatientErased(LookupError):
    """The patient's data key was destroyed: their protected fields can no longer be read."""


class PatientKeys:
    """The key store: one data key per patient, in the owning service's database."""

    def __init__(self, engine: AsyncEngine, kek: KeyEncryptionKey) -> None:
        self.kek = kek
        self._sessions = session_factory(engine)

    async def key_for(self, patient_id: UUID) -> bytes:
        """The patient's data key, made on first use; `PatientErased` after an erasure."""
        async with self._sessions() as session, session.begin():
            record = await session.get(PatientKeyRecord, patient_id)
            if record is None:
                data_key = new_data_key()
                session.add(
                    PatientKeyRecord(
                        patient_id=patient_id,
                        wrapped_key=self.kek.wrap(data_key),
                        kek_id=self.kek.id,
                        created_at=datetime.now(UTC),
                    )
                )
                return data_key
            if record.wrapped_key is None:
                raise PatientErased(f"patient {patient_id} was erased at {record.erased_at}")
            return self.kek.unwrap(record.wrapped_key)

    async def erase(self, patient_id: UUID) -> datetime:
        """Destroy the patient's data key (made absent if there was none); returns when."""
        erased_at = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            if await session.get(PatientKeyRecord, patient_id) is None:
                session.add(
                    PatientKeyRecord(
                        patient_id=patient_id,
                        kek_id=self.kek.id,
                        created_at=erased_at,
                        erased_at=erased_at,
                    )
                )
            else:
                await session.execute(
                    update(PatientKeyRecord)
                    .where(PatientKeyRecord.patient_id == patient_id)  # type: ignore[arg-type]
                    .values(wrapped_key=None, erased_at=erased_at)
                )
        return erased_at
