"""Fault trials: kill things mid-flight and show that nothing is lost, nothing is applied twice,
and nothing stalls. Each trial adds a row to the table printed at the end of the run."""

import asyncio
import json
import time
from typing import Any
from uuid import uuid4

import httpx
import pytest
from conftest import KillableBroker
from system import SERVICES, ClinicSystem, TrialResult, read_all

from carepath.chassis.auth import Role
from carepath.chassis.kafka import make_broker
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import ALL_TOPICS, PatientReferred, dlq_topic
from carepath.contracts.topics import SUBSCRIPTIONS
from support import eventually, token

pytestmark = pytest.mark.broker

SETTLE_WITHIN_S = 180


def assert_sound(result: TrialResult, fault_results: list[TrialResult]) -> None:
    fault_results.append(result)
    assert not result.problems(), result


async def test_killing_each_service_mid_cohort_loses_and_doubles_nothing(
    clinic: ClinicSystem, fault_results: list[TrialResult]
) -> None:
    cohort = asyncio.create_task(clinic.drive_cohort(patients=12, seed=17))
    slowest = 0.0
    for name in SERVICES:
        # Strike while the cohort is under way: once the stores have grown since the last kill.
        grown = len(await asyncio.to_thread(clinic.stored_event_ids)) + 15
        await eventually(
            lambda grown=grown: cohort.done() or len(clinic.stored_event_ids()) >= grown,
            within=120,
            what=f"the cohort to make progress before {name} is killed",
        )
        clinic.processes[name].kill()
        started = time.monotonic()
        await asyncio.to_thread(clinic.processes[name].start)
        slowest = max(slowest, time.monotonic() - started)
    journeys = await cohort
    recovery = await clinic.settle(within=SETTLE_WITHIN_S)
    result = await asyncio.to_thread(
        clinic.verdict, "kill -9 each service in turn, restart", recovery, journeys
    )
    assert_sound(result, fault_results)


async def test_a_broker_down_for_20_s_mid_load_keeps_commands_succeeding(
    clinic: ClinicSystem, fault_broker: KillableBroker, fault_results: list[TrialResult]
) -> None:
    cohort = asyncio.create_task(clinic.drive_cohort(patients=10, seed=23, deadline_s=180))
    grown = len(await asyncio.to_thread(clinic.stored_event_ids)) + 20
    await eventually(
        lambda: len(clinic.stored_event_ids()) >= grown, within=120, what="the cohort under way"
    )
    fault_broker.kill()
    outage_ends = time.monotonic() + 20
    answers, reads = [], []
    async with httpx.AsyncClient(timeout=10) as client:
        coordinator = token(Role.INTAKE_COORDINATOR, "outage-coordinator")
        while time.monotonic() < outage_ends:  # the outage itself: a coordinator at work
            referral = await client.post(
                f"{clinic.url('intake')}/patients", json=REFERRAL, headers=coordinator
            )
            answers.append(referral.status_code)
            if referral.status_code == 201:  # and reads back what was charted
                patient = referral.json()["patient_id"]
                record = await client.get(
                    f"{clinic.url('intake')}/patients/{patient}", headers=coordinator
                )
                reads.append(record.status_code)
        ready = await client.get(f"{clinic.url('session')}/readyz")
        health = (await client.get(f"{clinic.url('session')}/healthz")).json()
    await asyncio.to_thread(fault_broker.start)
    assert ready.status_code == 200  # still in its Service: nurses can chart
    assert health["kafka"] != "ok", health  # and the operator sees why nothing moves
    recovery = await clinic.settle(within=SETTLE_WITHIN_S)  # from the broker's return
    journeys = await cohort
    await clinic.settle(within=SETTLE_WITHIN_S)  # and what the cohort did after
    assert answers and set(answers) == {201}, answers  # charting went on while Kafka was away
    assert set(reads) == {200}, reads  # and the records read back
    result = await asyncio.to_thread(
        clinic.verdict, "kill -9 the broker for 20 s mid-load", recovery, journeys
    )
    assert_sound(result, fault_results)


NOT_JSON = b"\x00not json at all"


def event_id(value: bytes) -> str:
    return str(json.loads(value)["id"]).replace("-", "")


REFERRAL = {
    "given_name": "Noor",
    "family_name": "Amsel",
    "date_of_birth": "1985-03-02",
    "referral_reason": "depression",
    "referrer": "Dr Lind",
}


def poison_of_every_kind(topic: str) -> list[bytes]:
    """Not JSON, a wrong schema, an unknown type, a year-1 date, a NUL, a bad subject."""
    context = topic.split(".")[1]

    def envelope(event_type: str, data: dict[str, Any], subject: str | None = None) -> bytes:
        patient = subject or str(uuid4())
        return json.dumps(
            {
                "specversion": "1.0",
                "id": str(uuid4()),
                "source": f"/carepath/{context}",
                "type": event_type,
                "time": "2026-11-25T09:00:00Z",
                "subject": patient,
                "datacontenttype": "application/json",
                "data": data,
                "sequence": 1,
                "streamid": f"{context}-{patient}",
                "correlationid": "poison",
                "actor": "service:poison",
            }
        ).encode()

    referred = PatientReferred.event_type()
    good = PatientReferred(
        patient_id=uuid4(),
        given_name="Ada",
        family_name="Poison",
        date_of_birth="1990-01-01",  # type: ignore[arg-type]
        referral_reason="anxiety",
        referrer="Dr R",
    ).model_dump(mode="json")
    return [
        NOT_JSON,
        envelope(referred, {"patient_id": "not a uuid"}),
        envelope(f"carepath.{context}.NoSuchEvent.v1", good),
        envelope(referred, {**good, "occurred_at": "0001-01-01T00:00:00+01:00"}),
        envelope(referred, {**good, "given_name": "A\x00da"}),
        envelope(referred, good, subject="not-a-patient-id"),
    ]


async def test_poison_on_every_topic_reaches_the_dead_letters_and_every_consumer_goes_on(
    clinic: ClinicSystem, fault_broker: KillableBroker, fault_results: list[TrialResult]
) -> None:
    consumed = {topic for topics in SUBSCRIPTIONS.values() for topic in topics}
    dlq_before = {
        (name, topic.name): len(read_all(fault_broker.bootstrap, [dlq_topic(topic, name).name]))
        for name, topics in SUBSCRIPTIONS.items()
        for topic in topics
    }
    broker = make_broker(
        ServiceSettings(service_name="poisoner", kafka_bootstrap_servers=fault_broker.bootstrap)
    )
    poison = {topic.name: poison_of_every_kind(topic.name) for topic in consumed}
    await broker.start()
    try:
        for topic in consumed:
            for value in poison[topic.name]:
                await broker.publish(value, topic=topic.name, key=b"poison")
    finally:
        await broker.stop()
    # Later records, on the same topics: a small cohort goes all the way through.
    journeys = await clinic.drive_cohort(patients=3, seed=31)
    recovery = await clinic.settle(within=SETTLE_WITHIN_S)

    for (name, topic), before in dlq_before.items():
        letters = read_all(fault_broker.bootstrap, [f"{topic}.dlq.{name}"])[before:]
        assert NOT_JSON in letters, f"{name} did not dead-letter {topic}'s record that is not JSON"
        dead = {event_id(value) for value in letters if value.startswith(b"{")}
        applied = await asyncio.to_thread(clinic.inbox_ids, name)
        for value in poison[topic]:
            if value.startswith(b"{"):  # each kind: dead-lettered, or harmless and applied
                assert event_id(value) in dead | applied, (name, topic, value[:80])
    assert all(j.refusal is None and not j.surprises for j in journeys), journeys
    result = await asyncio.to_thread(
        clinic.verdict, "poison of 6 kinds on every consumed topic", recovery, journeys
    )
    fault_results.append(result)
    assert not result.problems(findings_expected=True), result  # verify finds the poison


def test_the_table_lists_every_topic() -> None:
    # A guard for the poison trial: it covers what the services consume, which is every topic.
    consumed = {topic for topics in SUBSCRIPTIONS.values() for topic in topics}
    assert consumed == set(ALL_TOPICS)
