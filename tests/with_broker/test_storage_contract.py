"""The storage contract every event-store backend keeps: runs on SQLite and on PostgreSQL."""

import asyncio
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from carepath.chassis.errors import ConcurrencyError, PatientErased
from carepath.chassis.inbox import Inbox
from carepath.chassis.kafka import make_producer
from carepath.chassis.outbox import Outbox
from carepath.chassis.patient_keys import KeyEncryptionKey, PatientKeys
from carepath.chassis.relay import OutboxRelay
from carepath.chassis.settings import ServiceSettings
from carepath.chassis.store import EventMetadata, EventRecord, EventStore
from carepath.contracts import CloudEvent, PatientReferred
from carepath.contracts.intake import PatientReferredV1
from support import end_offsets, read_records

METADATA = EventMetadata(
    source="/carepath/intake", actor="clinician:dr-test", correlation_id="corr-1"
)


def referral(patient_id: UUID, given_name: str = "Ada") -> PatientReferred:
    return PatientReferred(
        patient_id=patient_id,
        given_name=given_name,
        family_name="Test",
        date_of_birth=date(1980, 5, 17),
        referral_reason="depression",
        referrer="Dr Referrer",
    )


KEK = KeyEncryptionKey("storage-contract", bytes(range(32)))


def store_on(engine: AsyncEngine) -> EventStore:
    """An event store with the key store in the same database, as intake has."""
    return EventStore(engine, keys=PatientKeys(engine, KEK))


class TestEventStoreContract:
    async def test_appended_events_load_in_order_with_gapless_sequences(
        self, engine: AsyncEngine
    ) -> None:
        store, patient = store_on(engine), uuid4()
        stream = f"intake-{patient}"

        first = await store.append(
            stream,
            0,
            [referral(patient, "A"), referral(patient, "B")],
            subject=str(patient),
            metadata=METADATA,
        )
        second = await store.append(
            stream, 2, [referral(patient, "C")], subject=str(patient), metadata=METADATA
        )

        loaded = await store.load(stream)
        assert [event.sequence for event in loaded] == [1, 2, 3]
        assert [event.event().given_name for event in loaded] == ["A", "B", "C"]  # type: ignore[attr-defined]
        assert [e.event_id for e in first + second] == [e.event_id for e in loaded]
        assert await store.version(stream) == 3
        assert loaded[0].recorded_at.tzinfo is not None
        assert loaded[0].metadata["actor"] == "clinician:dr-test"

    async def test_every_stored_event_says_when_it_happened_clinically(
        self, engine: AsyncEngine
    ) -> None:
        store, patient = store_on(engine), uuid4()
        charted = datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
        cause_happened = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
        dated = referral(patient, "Dated").model_copy(update={"occurred_at": charted})
        await store.append(
            f"intake-{patient}",
            0,
            [dated, referral(patient)],
            subject=str(patient),
            metadata=METADATA,
        )
        reaction = replace(METADATA, occurred_at=cause_happened)
        await store.append(
            f"intake-{patient}", 2, [referral(patient)], subject=str(patient), metadata=reaction
        )

        own, undated, reacted = await store.load(f"intake-{patient}")
        assert own.event().occurred_at == charted
        assert undated.event().occurred_at == undated.recorded_at  # defaults to now
        assert reacted.event().occurred_at == cause_happened  # a reaction: when its cause happened
        assert "occurred_at" not in reacted.metadata  # clinical time is data, not an attribute
        assert reacted.to_cloud_event().time == reacted.recorded_at

    async def test_unknown_stream_loads_empty_at_version_zero(self, engine: AsyncEngine) -> None:
        store = store_on(engine)
        assert await store.load("intake-nobody") == []
        assert await store.version("intake-nobody") == 0

    async def test_append_at_a_stale_version_is_a_conflict_and_writes_nothing(
        self, engine: AsyncEngine
    ) -> None:
        store, patient = store_on(engine), uuid4()
        stream = f"intake-{patient}"
        await store.append(stream, 0, [referral(patient)], subject=str(patient), metadata=METADATA)

        with pytest.raises(ConcurrencyError) as raised:
            await store.append(
                stream, 0, [referral(patient, "Late")], subject=str(patient), metadata=METADATA
            )

        assert raised.value.actual_version == 1
        assert len(await store.load(stream)) == 1

    async def test_two_concurrent_appends_at_the_same_version_exactly_one_wins(
        self, database_url: str, engine: AsyncEngine
    ) -> None:
        from carepath.chassis.database import create_engine

        # Two writers with their own connection pools, as two service replicas would have.
        other_engine = create_engine(database_url)
        stores = [store_on(engine), store_on(other_engine)]
        try:
            for _round in range(10):
                patient = uuid4()
                stream = f"intake-{patient}"
                outcomes = await asyncio.gather(
                    *(
                        store.append(
                            stream,
                            0,
                            [referral(patient, f"writer{i}")],
                            subject=str(patient),
                            metadata=METADATA,
                        )
                        for i, store in enumerate(stores)
                    ),
                    return_exceptions=True,
                )
                winners = [o for o in outcomes if isinstance(o, list)]
                losers = [o for o in outcomes if isinstance(o, ConcurrencyError)]
                assert (len(winners), len(losers)) == (1, 1), outcomes
                stored = await stores[0].load(stream)
                assert [e.event_id for e in stored] == [e.event_id for e in winners[0]]
        finally:
            await other_engine.dispose()

    async def test_new_events_wait_in_the_outbox_until_marked_published(
        self, engine: AsyncEngine
    ) -> None:
        store, patient = store_on(engine), uuid4()
        recorded = await store.append(
            f"intake-{patient}", 0, [referral(patient)], subject=str(patient), metadata=METADATA
        )

        assert [e.event_id for e in await Outbox(engine).unpublished(10)] == [recorded[0].event_id]
        waiting, oldest = await Outbox(engine).backlog()  # what /metrics shows
        assert waiting >= 1 and oldest is not None and oldest <= recorded[0].recorded_at
        assert oldest.tzinfo is not None
        await Outbox(engine).mark_published([recorded[0].position])
        assert await Outbox(engine).unpublished(10) == []
        assert await Outbox(engine).count_unpublished() == 0
        assert await Outbox(engine).backlog() == (0, None)

    async def test_one_relay_at_a_time_holds_the_publishing_lease(
        self, database_url: str, engine: AsyncEngine
    ) -> None:
        # PostgreSQL: an advisory lock; SQLite: a file lock beside the database file.
        from carepath.chassis.database import create_engine

        other_engine = create_engine(database_url)
        granted, release = asyncio.Event(), asyncio.Event()

        async def second_relay() -> None:
            async with Outbox(other_engine).publishing_lease(retry_s=0.05):
                granted.set()
                await release.wait()

        try:
            async with Outbox(engine).publishing_lease(retry_s=0.05) as lease:
                await lease.confirm()
                standby = asyncio.create_task(second_relay())
                with pytest.raises(TimeoutError):  # it stands by while the first holds the lease
                    await asyncio.wait_for(granted.wait(), timeout=0.5)
            await asyncio.wait_for(granted.wait(), timeout=10)  # and takes over once it is let go
            release.set()
            await standby
        finally:
            await other_engine.dispose()


class RelayCrashed(Exception):
    """Stands in for the process dying between publishing and marking."""


@pytest.mark.broker
class TestRelayAndInboxContract:
    async def test_relay_killed_before_marking_republishes_and_the_inbox_applies_once(
        self, engine: AsyncEngine, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = ServiceSettings(service_name="test", kafka_bootstrap_servers=kafka_bootstrap)
        store, patient = store_on(engine), uuid4()
        topic = PatientReferred.topic().name
        start = end_offsets(kafka_bootstrap, topic)
        [recorded] = await store.append(
            f"intake-{patient}", 0, [referral(patient)], subject=str(patient), metadata=METADATA
        )

        # First relay: publishes, then "dies" before it can mark the event published.
        async def crash(_outbox: object, _positions: object) -> None:
            raise RelayCrashed

        first_relay = OutboxRelay(store, lambda: make_producer(settings))
        with monkeypatch.context() as patch:
            patch.setattr(Outbox, "mark_published", crash)
            with pytest.raises(RelayCrashed):
                await first_relay.publish_pending()
        await first_relay.close()
        assert [e.event_id for e in await Outbox(engine).unpublished(10)] == [recorded.event_id]

        # Restart: a new relay finds the event still unpublished and publishes it again.
        second_relay = OutboxRelay(store, lambda: make_producer(settings))
        assert await second_relay.drain() == 1
        await second_relay.close()
        assert await Outbox(engine).unpublished(10) == []

        def mine(records: list) -> list:
            return [r for r in records if r.key == str(patient).encode()]

        deliveries = mine(read_records(kafka_bootstrap, start, until=lambda rs: len(mine(rs)) >= 2))
        events = [CloudEvent.from_json(record.value) for record in deliveries]
        assert [e.id for e in events] == [recorded.event_id, recorded.event_id]

        # A consumer sees both deliveries; its inbox applies the effect once.
        effects = store_on(engine)

        async def record_screening_started(session: AsyncSession, event: CloudEvent) -> None:
            subject = UUID(event.subject)
            await effects.append(
                f"screening-{subject}",
                0,
                [referral(subject, "Effect")],
                subject=event.subject,
                metadata=METADATA,
                session=session,
            )

        inbox = Inbox(engine, "test-consumer")
        applied = [await inbox.apply([event], record_screening_started) for event in events]
        assert [len(batch) for batch in applied] == [1, 0]
        assert len(await effects.load(f"screening-{patient}")) == 1

    async def test_an_effect_that_fails_leaves_nothing_and_applies_on_redelivery(
        self, engine: AsyncEngine
    ) -> None:
        patient = uuid4()
        store = store_on(engine)
        [recorded] = await store.append(
            f"intake-{patient}", 0, [referral(patient)], subject=str(patient), metadata=METADATA
        )
        event = recorded.to_cloud_event()
        inbox = Inbox(engine, "test-consumer")

        async def append(session: AsyncSession, event: CloudEvent) -> None:
            await store.append(
                f"screening-{patient}",
                0,
                [referral(patient)],
                subject=event.subject,
                metadata=METADATA,
                session=session,
            )

        async def append_then_fail(session: AsyncSession, event: CloudEvent) -> None:
            await append(session, event)
            raise RuntimeError("rule engine unavailable")

        with pytest.raises(RuntimeError):
            await inbox.apply([event], append_then_fail)
        assert await store.load(f"screening-{patient}") == []

        assert len(await inbox.apply([event, event], append)) == 1
        assert len(await store.load(f"screening-{patient}")) == 1


class TestPatientDataContract:
    """Protected fields are sealed in the store, open for the service, and erased for everyone
    when the patient's key is destroyed; the same on SQLite and PostgreSQL."""

    async def test_protected_fields_are_stored_sealed_and_load_in_clear(
        self, engine: AsyncEngine
    ) -> None:
        store, patient = store_on(engine), uuid4()
        stream = f"intake-{patient}"

        await store.append(
            stream, 0, [referral(patient, "Philippa")], subject=str(patient), metadata=METADATA
        )

        async with store.transaction() as session:
            row = (
                await session.scalars(
                    select(EventRecord).where(col(EventRecord.stream_id) == stream)
                )
            ).one()
        assert row.payload["given_name"].startswith("enc:v1:")
        assert row.payload["date_of_birth"].startswith("enc:v1:")
        assert "Philippa" not in json.dumps(row.payload) and "1980-05-17" not in json.dumps(
            row.payload
        )
        assert row.payload["referral_reason"] == "depression"  # plain fields stay plain
        [loaded] = await store.load(stream)
        assert loaded.event() == referral(patient, "Philippa").model_copy(
            update={"occurred_at": loaded.event().occurred_at}
        )
        # The evidence covers what is stored: the digest of the loaded event is the stored form's.
        assert loaded.to_cloud_event().data == row.payload

    async def test_after_erasure_the_fields_read_erased_and_nothing_more_is_sealed(
        self, engine: AsyncEngine
    ) -> None:
        keys = PatientKeys(engine, KEK)
        store, patient = EventStore(engine, keys=keys), uuid4()
        stream = f"intake-{patient}"
        await store.append(stream, 0, [referral(patient)], subject=str(patient), metadata=METADATA)

        async with store.transaction() as session:
            await keys.erase(patient, session)
        await keys.purge_erased()

        [loaded] = await store.load(stream)
        erased = loaded.event()
        assert isinstance(erased, PatientReferred)
        assert (erased.given_name, erased.family_name, erased.referrer) == ("erased",) * 3
        assert erased.date_of_birth is None  # no text fits a date: absent
        assert erased.referral_reason == "depression" and erased.patient_id == patient
        with pytest.raises(PatientErased):
            await store.append(
                stream, 1, [referral(patient)], subject=str(patient), metadata=METADATA
            )

    async def test_a_referral_stored_in_clear_before_sealing_still_loads(
        self, engine: AsyncEngine
    ) -> None:
        # The upgrade path: events written before version 2 stay as they are (the log is
        # forever) and are read as version 2, in clear.
        store, patient = store_on(engine), uuid4()
        stream = f"intake-{patient}"
        old = PatientReferredV1.model_validate(referral(patient, "Legacy").model_dump())
        await store.append(stream, 0, [old], subject=str(patient), metadata=METADATA)

        [loaded] = await store.load(stream)
        assert loaded.event_type == "carepath.intake.PatientReferred.v1"
        assert loaded.payload["given_name"] == "Legacy"  # was never sealed
        upcast = loaded.event()
        assert type(upcast) is PatientReferred and upcast.given_name == "Legacy"
