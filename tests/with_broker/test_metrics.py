"""`/metrics` on running services during a small cohort: what an operator alerts on is there, with
values that say what happened (commands by outcome, events appended and published, a drained
outbox, consumers caught up, a poison record counted as a dead letter)."""

from collections.abc import Callable
from uuid import uuid4

import httpx
import pytest
from clinic import FORM, Coordinator
from faststream.kafka import KafkaBroker
from prometheus_client.parser import text_string_to_metric_families

from carepath.chassis.auth import Role
from carepath.contracts.topics import INTAKE_EVENTS
from support import ServiceProcess, eventually, token

pytestmark = pytest.mark.broker

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(service: ServiceProcess) -> Samples:
    response = httpx.get(f"{service.url}/metrics", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    """The label sets of `name`'s samples."""
    return [dict(found) for (n, found) in samples if n == name]


async def until(service: ServiceProcess, holds: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until `holds` (the gauges are gathered every few seconds), or fail saying `what`."""
    found: dict[str, Samples] = {}

    def check() -> bool:
        found["last"] = scrape(service)
        return holds(found["last"])

    await eventually(check, within=30, what=what, every=0.5)
    return found["last"]


async def test_a_small_cohort_shows_in_the_metrics_of_the_services_it_passes(
    intake_service: ServiceProcess, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    intake_before, eligibility_before = scrape(intake_service), scrape(eligibility_service)
    coordinator = Coordinator(intake_service.url)
    for _ in range(3):
        coordinator.complete_intake()
    unknown = coordinator.client.put(f"/patients/{uuid4()}/intake-form", json=FORM)
    assert unknown.status_code == 404  # decided and refused: nothing stored

    def grew(after: Samples, before: Samples, name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    intake = await until(
        intake_service,
        lambda s: (
            bool(series(s, "carepath_outbox_backlog"))
            and total(s, "carepath_outbox_backlog") == 0
            and grew(s, intake_before, "messaging_client_sent_messages_total")
            >= grew(s, intake_before, "carepath_events_appended_total")
            > 0
        ),
        "intake's outbox drained and every appended event counted as sent",
    )
    accepted = grew(intake, intake_before, "carepath_commands_total", outcome="accepted")
    assert accepted >= 15  # 3 patients x (referral, form, PHQ-9, C-SSRS, consent)
    assert grew(intake, intake_before, "carepath_command_duration_seconds_count") >= accepted
    assert (
        grew(intake, intake_before, "carepath_commands_total", carepath_command="ReferPatient") == 3
    )
    refused = grew(
        intake,
        intake_before,
        "carepath_commands_total",
        carepath_command="SubmitIntakeForm",
        outcome="refused",
    )
    assert refused == 1
    assert series(intake, "carepath_outbox_oldest_age_seconds")  # there, and 0 when drained
    assert total(intake, "carepath_outbox_oldest_age_seconds") == 0
    # Durations in seconds, in seconds buckets (the SDK's defaults are for milliseconds).
    buckets = {
        labels.get("le") for labels in series(intake, "carepath_command_duration_seconds_bucket")
    }
    assert {"0.05", "0.1"} <= buckets
    assert total(intake, "carepath_kafka_connected") == 1
    assert (
        grew(
            intake,
            intake_before,
            "messaging_client_sent_messages_total",
            messaging_destination_name=INTAKE_EVENTS.name,
        )
        >= 18  # each intake: referral, form, two assessments, a flag or not, consent, complete
    )
    names = sorted({name for name, _ in intake})
    assert total(intake, "http_server_request_duration_seconds_count") > 0, names  # FastAPI's

    eligibility = await until(
        eligibility_service,
        lambda s: (
            bool(series(s, "carepath_consumer_lag"))
            and all(
                v == 0
                for (n, labels), v in s.items()
                if n == "carepath_consumer_lag"
                and ("messaging_destination_name", INTAKE_EVENTS.name) in labels
            )
        ),
        "eligibility caught up with the intake topic (lag 0 on every partition it holds)",
    )
    consumed = grew(
        eligibility,
        eligibility_before,
        "messaging_client_consumed_messages_total",
        messaging_destination_name=INTAKE_EVENTS.name,
        messaging_consumer_group_name="carepath.eligibility",
    )
    assert consumed >= 18
    partitions = {
        labels["messaging_destination_partition_id"]
        for labels in series(eligibility, "carepath_consumer_lag")
        if labels["messaging_destination_name"] == INTAKE_EVENTS.name
    }
    assert partitions  # one series per partition eligibility holds
    # FastStream's own instrumentation records into the same provider.
    assert total(eligibility, "messaging_process_duration_seconds_count") > 0
    # Eligibility decided on each patient: its own commands are reactions, its events are sent.
    assert grew(eligibility, eligibility_before, "messaging_client_sent_messages_total") > 0


async def test_a_poison_record_is_counted_as_a_dead_letter_of_its_consumer(
    intake_service: ServiceProcess, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    before = scrape(eligibility_service)
    broker = KafkaBroker(kafka_bootstrap)
    await broker.start()
    try:
        await broker.publish(b"not a cloudevent", topic=INTAKE_EVENTS.name, key=b"metrics-poison")
    finally:
        await broker.stop()

    def counted(samples: Samples) -> bool:
        return (
            total(
                samples,
                "carepath_consumer_dead_letters_total",
                messaging_destination_name=INTAKE_EVENTS.name,
                messaging_consumer_group_name="carepath.eligibility",
            )
            - total(
                before,
                "carepath_consumer_dead_letters_total",
                messaging_destination_name=INTAKE_EVENTS.name,
                messaging_consumer_group_name="carepath.eligibility",
            )
            == 1
        )

    after = await until(eligibility_service, counted, "the poison record counted once")
    for labels in series(after, "carepath_consumer_dead_letters_total"):
        assert labels["error_type"]  # the error's class, never the record's content
        assert not any("not a cloudevent" in value for value in labels.values())
    assert "ValidationError" in {
        labels["error_type"] for labels in series(after, "carepath_consumer_dead_letters_total")
    }


def test_metrics_need_no_token_and_tell_nothing_about_patients(
    intake_service: ServiceProcess,
) -> None:
    coordinator = Coordinator(intake_service.url)
    coordinator.refer(given_name="Zebedee", family_name="Quillfeather")
    text = httpx.get(f"{intake_service.url}/metrics").text
    assert "Quillfeather" not in text and "Zebedee" not in text
    assert "process_resident_memory_bytes" in text  # the process's own figures too
    assert httpx.get(f"{intake_service.url}/patients", headers=token(Role.NURSE)).status_code != 200
