"""Each patient's data key, wrapped by the key-encryption key, and its destruction on erasure.

A data key (AES-256) is made the first time a patient's protected field is encrypted, and stored
only wrapped (RFC 3394 AES key wrap) by the key-encryption key (KEK), which comes from
configuration: a file or the environment for local runs, a KMS in production. Erasure overwrites
the wrapped key and records when: from then on, every encrypted field of that patient, on every
topic and in every copy of a broker's disk, is noise.
"""

import asyncio
import base64
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from sqlalchemy import Column, DateTime, LargeBinary, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import Field, SQLModel

from carepath.chassis.database import session_factory
from carepath.chassis.errors import NotFound
from carepath.chassis.field_crypto import KEY_BYTES, new_data_key
from carepath.chassis.files import create_private_file
from carepath.chassis.sealing import PatientErased
from carepath.chassis.settings import ServiceSettings

DEV_KEK_FILE = "dev-kek"
PREPARED = "carepath.prepared_keys"  # a transaction's keys, from `prepare_keys`

log = logging.getLogger(__name__)


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


class PatientKeys:
    """The key store: one data key per patient, in the owning service's database."""

    def __init__(
        self, engine: AsyncEngine, kek: KeyEncryptionKey, cache_seconds: float = 30.0
    ) -> None:
        self.kek = kek
        self.cache_seconds = cache_seconds
        self._engine = engine
        self._sessions = session_factory(engine)
        # Keys read back from the table (so committed), kept briefly: loading a stream then
        # costs no query. An erasure clears this replica's entry; another intake replica's
        # entry lives out `cache_seconds` (as every other service's cache does).
        self._cache: dict[UUID, tuple[float, bytes]] = {}

    async def data_key(
        self, patient_id: UUID, *, session: AsyncSession | None = None, create: bool = True
    ) -> bytes:
        """The patient's data key, made on first use (unless not `create`: `NotFound`);
        `PatientErased` after an erasure. With `session`, in the caller's transaction (a new
        key is kept only if it commits)."""
        cached = self._cache.get(patient_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if session is not None:
            if (prepared := session.info.get(PREPARED, {}).get(patient_id)) is not None:
                return bytes(prepared)
            return await self._data_key(session, patient_id, create)
        async with self._sessions() as own, own.begin():
            return await self._data_key(own, patient_id, create)

    async def prepare_keys(self, patient_ids: Sequence[UUID], session: AsyncSession) -> None:
        """Make the keys of those who have none in one statement and read the others' in one
        more; they serve `data_key` for the rest of this transaction only (a key made in it
        exists only if it commits)."""
        prepared: dict[UUID, bytes] = session.info.setdefault(PREPARED, {})
        now = time.monotonic()
        wanted = sorted(
            {p for p in patient_ids if p not in prepared and self._cache.get(p, (0.0,))[0] <= now},
            key=str,
        )
        if not wanted:
            return
        made = {patient_id: new_data_key() for patient_id in wanted}
        table = PatientKeyRecord.__table__  # type: ignore[attr-defined]
        created = await session.scalars(
            _insert(session)(table).on_conflict_do_nothing().returning(table.c.patient_id),
            [
                {
                    "patient_id": patient_id,
                    "wrapped_key": self.kek.wrap(key),
                    "kek_id": self.kek.id,
                    "created_at": datetime.now(UTC),
                }
                for patient_id, key in made.items()
            ],
        )
        for patient_id in created:
            prepared[patient_id] = made[patient_id]
        existing = [patient_id for patient_id in wanted if patient_id not in prepared]
        if existing:
            found = await session.execute(select(table).where(table.c.patient_id.in_(existing)))
            for record in found.mappings():
                if record["wrapped_key"] is not None and record["kek_id"] == self.kek.id:
                    prepared[record["patient_id"]] = self.kek.unwrap(record["wrapped_key"])

    async def _data_key(self, session: AsyncSession, patient_id: UUID, create: bool) -> bytes:
        if create and (made := await self._made(session, patient_id)) is not None:
            return made  # a new patient's key: one statement
        record = await session.get(PatientKeyRecord, patient_id)
        if record is None:
            raise NotFound(f"no data key for patient {patient_id}: no such patient")
        if record.wrapped_key is None:
            raise PatientErased(
                f"patient {patient_id}'s data was erased at {record.erased_at:%Y-%m-%dT%H:%M:%SZ}"
            )
        if record.kek_id != self.kek.id:
            raise ValueError(
                f"patient {patient_id}'s key is wrapped by key-encryption key {record.kek_id!r}, "
                f"not by the configured {self.kek.id!r}"
            )
        existing = self.kek.unwrap(record.wrapped_key)
        self._cache[patient_id] = (time.monotonic() + self.cache_seconds, existing)
        return existing

    async def _made(self, session: AsyncSession, patient_id: UUID) -> bytes | None:
        """A new key for the patient, stored; None when the patient has one already."""
        data_key = new_data_key()
        table = PatientKeyRecord.__table__  # type: ignore[attr-defined]
        made = await session.scalar(  # Core, not the ORM: one plain statement
            _insert(session)(table)
            .values(
                patient_id=patient_id,
                wrapped_key=self.kek.wrap(data_key),
                kek_id=self.kek.id,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing()
            .returning(table.c.patient_id)
        )
        return data_key if made is not None else None

    async def purge_erased(self) -> None:
        """Leave no copy of an overwritten key in the database's files: SQLite writes pages back
        from its write-ahead log and truncates it (its `secure_delete` zeroes what was freed);
        PostgreSQL vacuums the table, so the old row version is gone."""
        if self._engine.dialect.name == "sqlite":
            database = self._engine.url.database
            if database and database != ":memory:":
                await asyncio.to_thread(_checkpoint_sqlite, database)
            return
        async with self._engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql(f"VACUUM {PatientKeyRecord.__tablename__}")

    async def erase(self, patient_id: UUID, session: AsyncSession) -> datetime:
        """Destroy the patient's data key (made absent if there was none), in the caller's
        transaction; returns when."""
        self._cache.pop(patient_id, None)
        session.info.get(PREPARED, {}).pop(patient_id, None)
        erased_at = datetime.now(UTC)
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


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (SQLite and PostgreSQL)."""
    bind = session.get_bind()
    return sqlite_insert if bind.dialect.name == "sqlite" else postgresql_insert


def _checkpoint_sqlite(database: str) -> None:
    # Outside SQLAlchemy's transactions (a checkpoint cannot run inside one).
    with closing(sqlite3.connect(database, timeout=30, isolation_level=None)) as connection:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("the key store's write-ahead log is in use; erased keys leave it later")


def load_kek(settings: ServiceSettings) -> KeyEncryptionKey:
    """The key-encryption key of the key store: `CAREPATH_KEK` (base64 of 32 bytes) or the file
    `CAREPATH_KEK_FILE` (the same, e.g. a mounted Kubernetes Secret), named `CAREPATH_KEK_ID`;
    unset, for local runs, a key made once under `var/` (mode 0600)."""
    if settings.kek is not None:
        encoded, kek_id = settings.kek.get_secret_value(), settings.kek_id
    elif settings.kek_file is not None:
        encoded, kek_id = settings.kek_file.read_text().strip(), settings.kek_id
    else:
        path = Path(settings.var_dir) / DEV_KEK_FILE
        if not path.exists():
            create_private_file(path, base64.b64encode(os.urandom(KEY_BYTES)))
        encoded, kek_id = path.read_text().strip(), "local-dev"
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("the key-encryption key must be base64 (of 32 random bytes)") from None
    return KeyEncryptionKey(kek_id, raw)
