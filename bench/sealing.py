"""The cost of sealing patient data (issue 18): the same work with and without encryption.

- write path: referrals through decide + append + commit, each sealing its identifying fields
  with a new patient key (made, wrapped, stored), against the same with sealing switched off
  (`PatientReferred.sealed = False`: stored in clear, no key);
- reading a stored referral, as a service loading its own stream: open (decrypt) and validate,
  against validating the same referral stored in clear;
- reading it without a key, as the dashboard and audit projections (and their rebuilds) do: the
  stored form validated and the sealed fields masked, against validating it in clear.
"""

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from uuid import uuid4

from write_path import IntakeWriter, refer_patients, referral

from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.field_crypto import new_data_key
from carepath.chassis.sealing import seal, unseal
from carepath.contracts import PatientReferred, registry
from carepath.contracts.intake import ConsentWithdrawn, GiveConsent, ReferPatient, WithdrawConsent

TYPE = PatientReferred.event_type()


@contextmanager
def sealing_off() -> Iterator[None]:
    """Referrals and withdrawals stored in clear, as before sealing: the reference."""
    PatientReferred.sealed = ConsentWithdrawn.sealed = False
    try:
        yield
    finally:
        PatientReferred.sealed = ConsentWithdrawn.sealed = True


def write_path(database_url: str, keys_dir: Path, count: int, writers: int) -> dict[str, float]:
    """Commands/s of referrals (a new patient: a new key) and of withdrawals of consent with a
    reason (a known patient), sealed and with sealing off. The two sides alternate, three runs
    each on fresh databases, and the median is kept: on two shared cores one run of either
    varies by more than the difference measured."""
    runs: dict[str, list[float]] = {}
    for attempt in range(3):
        for side in ("", ", clear"):
            url = database_url.replace(".db", f"-{attempt}{side.strip(', ')}.db")
            with sealing_off() if side else nullcontext():
                for kind, measure in (("referrals", refer_patients), ("withdrawals", withdrawals)):
                    figure = asyncio.run(measure(url + f".{kind}", keys_dir, count, writers))
                    runs.setdefault(kind + side, []).append(figure)
    return {kind: statistics.median(figures) for kind, figures in runs.items()}


async def withdrawals(database_url: str, keys_dir: Path, count: int, writers: int) -> float:
    """Commands/s of `count` withdrawals of consent, each with a reason in free text, by
    `writers` concurrent tasks, for patients referred and consenting beforehand (not timed)."""
    engine = create_engine(database_url)
    try:
        await create_tables(engine)
        intake = IntakeWriter(engine, keys_dir, "clinician:bench")
        patients = [referral(n) for n in range(count)]
        consent = GiveConsent(consent_version="bench-1", consent_text_sha256="ab" * 32)
        for patient in patients:
            await intake.run(patient, patient.patient_id)
            await intake.run(consent, patient.patient_id)
        reason = WithdrawConsent(reason="Moving away; prefers a clinic nearer home")

        async def writer(share: list[ReferPatient]) -> None:
            for patient in share:
                await intake.run(reason, patient.patient_id)

        started = time.perf_counter()
        await asyncio.gather(*(writer(patients[k::writers]) for k in range(writers)))
        return count / (time.perf_counter() - started)
    finally:
        await engine.dispose()


def stored_referrals(count: int) -> list[tuple[Any, dict[str, Any], dict[str, Any], bytes]]:
    """(event id, clear payload, sealed payload, key) of `count` referrals."""
    stored = []
    for n in range(count):
        request = referral(n)
        clear = PatientReferred(**request.model_dump()).model_dump(mode="json")
        event_id, key = uuid4(), new_data_key()
        stored.append((event_id, clear, seal(clear, TYPE, event_id, key), key))
    return stored


def rate(work: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def reading(count: int) -> dict[str, float]:
    """Events/s of: opening and validating; reading sealed without a key; validating in clear."""
    stored = stored_referrals(count)

    def opened() -> None:
        for event_id, _, sealed, key in stored:
            registry.parse_opened(TYPE, unseal(sealed, TYPE, event_id, key))

    def masked() -> None:
        for _, _, sealed, _ in stored:
            registry.parse(TYPE, sealed)

    def clear() -> None:
        for _, payload, _, _ in stored:
            PatientReferred.model_validate(payload)

    clear()  # warm up pydantic's validators and the stored-form model
    masked()
    return {
        "opened": rate(opened, count),
        "masked": rate(masked, count),
        "clear": rate(clear, count),
    }
