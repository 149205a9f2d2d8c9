"""Intake and eligibility as separate processes on the real broker: a completed intake is
screened within seconds, exactly once; poison goes to the dead-letter topic; staff review."""

from collections.abc import Callable

import httpx
import pytest
from clinic import Coordinator, events_of, form
from kafka import KafkaAdminClient, KafkaProducer

from carepath.chassis.auth import Role
from carepath.contracts.topics import ELIGIBILITY_EVENTS, INTAKE_EVENTS, dlq_topic
from support import ServiceProcess, end_offsets, read_records, token, wait_until

pytestmark = pytest.mark.broker

DLQ = dlq_topic(INTAKE_EVENTS, "eligibility").name


def group_has_consumed(bootstrap: str, group: str, topic: str) -> Callable[[], bool]:
    """True once the consumer group's committed offsets reach the topic's end offsets (as now)."""
    end = end_offsets(bootstrap, topic)

    def check() -> bool:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            committed = admin.list_group_offsets(group)[group]
        finally:
            admin.close()
        return all(
            committed.get(tp) is not None and committed[tp].offset >= offset
            for tp, offset in end.items()
            if offset
        )

    return check


@pytest.fixture(scope="module")
def coordinator(intake_service: ServiceProcess) -> Coordinator:
    return Coordinator(intake_service.url)


def test_a_completed_intake_is_screened_within_seconds(
    coordinator: Coordinator, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = coordinator.complete_intake()

    events = events_of(
        kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient_id, types=("EligibilityDetermined",)
    )

    assert [e.type for e in events] == [
        "carepath.eligibility.ScreeningStarted.v1",
        "carepath.eligibility.EligibilityDetermined.v1",
    ]
    determined = events[1]
    assert (
        determined.data["outcome"] == "eligible"
        and determined.data["indication"] == "treatment_resistant_depression"
    )
    assert determined.data["policy_version"] == "2026.1"
    assert (
        determined.actor == "service:eligibility" and determined.source == "/carepath/eligibility"
    )
    intake = events_of(kafka_bootstrap, INTAKE_EVENTS.name, patient_id, types=("IntakeCompleted",))
    completed = next(e for e in intake if e.type.endswith("IntakeCompleted.v1"))
    assert events[0].data["intake_completed_event_id"] == str(completed.id)
    assert (
        determined.causationid == str(completed.id)
        and determined.correlationid == completed.correlationid
    )
    assert (
        determined.traceparent
        and determined.traceparent.split("-")[1] == completed.traceparent.split("-")[1]
    )  # type: ignore[union-attr]


def test_redelivering_the_same_intake_completed_produces_no_second_decision(
    coordinator: Coordinator, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = coordinator.complete_intake()
    events_of(
        kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient_id, types=("EligibilityDetermined",)
    )
    intake = events_of(kafka_bootstrap, INTAKE_EVENTS.name, patient_id, types=("IntakeCompleted",))
    completed = next(e for e in intake if e.type.endswith("IntakeCompleted.v1"))

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(
        INTAKE_EVENTS.name,
        key=patient_id.encode(),
        value=completed.to_json(),
        headers=[(k, v.encode()) for k, v in completed.kafka_headers().items()],
    ).get(timeout=30)
    producer.close()
    wait_until(
        group_has_consumed(kafka_bootstrap, "carepath.eligibility", INTAKE_EVENTS.name),
        timeout=30,
        what="eligibility to consume the redelivered IntakeCompleted",
    )

    events = events_of(kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient_id)
    assert [e.type.split(".")[2] for e in events] == ["ScreeningStarted", "EligibilityDetermined"]


def test_a_poison_message_goes_to_the_dlq_and_the_next_good_one_is_processed(
    coordinator: Coordinator, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    dlq_start = end_offsets(kafka_bootstrap, DLQ)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(
        INTAKE_EVENTS.name, key=b"poison-eligibility", value=b'{"specversion": "1.0", "type": 42}'
    ).get(timeout=30)
    producer.close()

    patient_id = coordinator.complete_intake()

    events_of(
        kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient_id, types=("EligibilityDetermined",)
    )
    dead = [
        r
        for r in read_records(
            kafka_bootstrap,
            dlq_start,
            until=lambda rs: any(r.key == b"poison-eligibility" for r in rs),
        )
        if r.key == b"poison-eligibility"
    ]
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert (
        headers["dlq_consumer"] == "eligibility" and headers["dlq_error_type"] == "ValidationError"
    )
    assert headers["dlq_source_topic"] == INTAKE_EVENTS.name


def test_a_clinician_reviews_a_needs_review_patient_and_cannot_approve_a_hard_stop(
    coordinator: Coordinator, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    review_patient = coordinator.complete_intake(intake_form=form(psychosis_history=True))
    stop_patient = coordinator.complete_intake(intake_form=form(intracerebral_haemorrhage=True))
    for patient_id in (review_patient, stop_patient):
        events_of(
            kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient_id, types=("EligibilityDetermined",)
        )
    clinician = token(Role.CLINICIAN, "dr-hale")
    with httpx.Client(base_url=eligibility_service.url, headers=clinician) as client:
        screening = client.get(f"/screenings/{review_patient}").json()
        assert screening["outcome"] == "needs_review"
        assert [f["rule_id"] for f in screening["findings"]][:1] == [
            "relative_contraindication.psychosis"
        ]

        rationale = {
            "decision": "approve",
            "rationale": "Remote single episode 2009, stable, psychiatrist agrees.",
        }
        approved = client.post(f"/screenings/{review_patient}/reviews", json=rationale)
        assert approved.status_code == 201 and approved.json()["review"]["decision"] == "approve"
        assert approved.json()["outcome"] == "needs_review"  # the automatic result is unchanged

        refused = client.post(f"/screenings/{stop_patient}/reviews", json=rationale)
        assert (
            refused.status_code == 409
            and "hard_stop.intracerebral_haemorrhage" in refused.json()["detail"]
        )

        nurse = client.post(
            f"/screenings/{review_patient}/reviews", json=rationale, headers=token(Role.NURSE)
        )
        assert nurse.status_code == 403
        short = client.post(
            f"/screenings/{stop_patient}/reviews", json={"decision": "decline", "rationale": "no"}
        )
        assert short.status_code == 422 and short.json()["detail"][0]["loc"][-1] == "rationale"

    reviewed = events_of(
        kafka_bootstrap, ELIGIBILITY_EVENTS.name, review_patient, types=("EligibilityReviewed",)
    )
    assert (
        reviewed[-1].data["automatic_outcome"] == "needs_review"
        and reviewed[-1].actor == "clinician:dr-hale"
    )


def test_consent_withdrawn_upstream_closes_the_screening(
    coordinator: Coordinator, eligibility_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    patient_id = coordinator.complete_intake()
    events_of(
        kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient_id, types=("EligibilityDetermined",)
    )

    assert (
        coordinator.client.post(f"/patients/{patient_id}/consents/withdrawal", json={}).status_code
        == 200
    )

    closed = events_of(
        kafka_bootstrap, ELIGIBILITY_EVENTS.name, patient_id, types=("ScreeningClosed",)
    )
    assert closed[-1].data["reason"] == "consent_withdrawn"
