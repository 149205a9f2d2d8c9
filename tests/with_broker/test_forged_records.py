"""A client that reaches the broker cannot open a course: the session service checks each record's
signature and producer before applying it. An unsigned, a forged-signature or a wrong-producer
`EligibilityDetermined(eligible)` is dead-lettered and opens no course; the same record signed
with the eligibility service's key opens one."""

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from clinic import Coordinator, events_of
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from kafka import KafkaProducer

from carepath.chassis.evidence import Signer, dev_key_file, digest
from carepath.contracts import CloudEvent
from carepath.contracts.topics import ELIGIBILITY_EVENTS, SESSION_EVENTS, dlq_topic
from support import TEST_VAR, ServiceProcess, end_offsets, read_records, read_to_end

pytestmark = pytest.mark.broker

DLQ = dlq_topic(ELIGIBILITY_EVENTS, "session").name


def service_key(service: str) -> Signer:
    """The service's own signing key, as the services under test generated it (dev keys)."""
    key = load_pem_private_key(dev_key_file(service, TEST_VAR / "keys").read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return Signer(service, key)


def sign(signer: Signer, draft: CloudEvent, *, key_id: str | None = None) -> CloudEvent:
    draft = draft.model_copy(update={"keyid": key_id or signer.key_id})
    return draft.model_copy(update={"signature": signer.sign(digest(draft))})


def send(bootstrap: str, records: dict[str, CloudEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for event in records.values():
            producer.send(
                ELIGIBILITY_EVENTS.name,
                key=event.kafka_key(),
                value=event.to_json(),
                headers=[(k, v.encode()) for k, v in event.kafka_headers().items()],
            ).get(timeout=30)
    finally:
        producer.close()


def test_only_a_record_signed_by_eligibility_opens_a_course(
    intake_service: ServiceProcess,
    eligibility_service: ServiceProcess,
    session_service: ServiceProcess,
    kafka_bootstrap: str,
) -> None:
    # A genuine decision to copy: what an attacker who reads the topic can see.
    genuine_patient = Coordinator(intake_service.url).complete_intake()
    [determined] = events_of(
        kafka_bootstrap,
        ELIGIBILITY_EVENTS.name,
        genuine_patient,
        types=("EligibilityDetermined",),
    )[-1:]
    assert determined.data["outcome"] == "eligible"

    def injected(source: str = "/carepath/eligibility") -> CloudEvent:
        """The decision for a patient nobody screened: a new id, subject and stream."""
        patient = str(uuid4())
        return determined.model_copy(
            update={
                "id": uuid4(),
                "source": source,
                "subject": patient,
                "streamid": determined.streamid.replace(genuine_patient, patient),
                "data": {**determined.data, "patient_id": patient},
                "streamsequence": 2,
                "prevhash": None,
                "signature": None,
                "keyid": None,
            }
        )

    eligibility, intake = service_key("eligibility"), service_key("intake")
    impostor = Signer("eligibility", Ed25519PrivateKey.generate())
    refused = {
        "unsigned": injected(),
        "forged signature": sign(impostor, injected(), key_id=eligibility.key_id),
        "unknown key": sign(impostor, injected()),
        "wrong producer": sign(intake, injected(source="/carepath/intake")),
    }
    signed = sign(eligibility, injected())
    dlq_start = end_offsets(kafka_bootstrap, DLQ)

    send(kafka_bootstrap, {**refused, "signed": signed})

    # The control: the record signed with eligibility's key is applied, a course opens.
    [opened] = events_of(
        kafka_bootstrap, SESSION_EVENTS.name, signed.subject, types=("CourseOpened",)
    )
    assert opened.data["basis_event_id"] == str(signed.id)

    # The others are dead-lettered by the session service, each for what is wrong with it.
    ours = {event.kafka_key(): why for why, event in refused.items()}

    def all_of_ours(records: list[Any]) -> bool:
        return {r.key for r in records} >= ours.keys()

    letters = {
        r.key: {k: v.decode() for k, v in r.headers}
        for r in read_records(kafka_bootstrap, dlq_start, until=all_of_ours, timeout=60)
        if r.key in ours
    }
    expected: dict[str, Callable[[str], bool]] = {
        "unsigned": lambda error: error == "unsigned",
        "forged signature": lambda error: (
            error == f"signature does not verify with the key {eligibility.key_id} of eligibility"
        ),
        "unknown key": lambda error: error == f"unknown key id {impostor.key_id} of eligibility",
        "wrong producer": lambda error: error.startswith(
            "/carepath/intake may not produce carepath.eligibility.EligibilityDetermined.v1"
        ),
    }
    for key, headers in letters.items():
        why = ours[key]
        assert headers["dlq_consumer"] == "session", why
        assert headers["dlq_error_type"] == "UnverifiedEvent", why
        assert headers["dlq_attempts"] == "1", why
        assert expected[why](headers["dlq_error"]), (why, headers["dlq_error"])

    # ...and none of them opened a course (they were dead-lettered before being applied).
    forged_patients = {event.kafka_key() for event in refused.values()}
    session_records = read_to_end(
        kafka_bootstrap, {tp: 0 for tp in end_offsets(kafka_bootstrap, SESSION_EVENTS.name)}
    )
    assert not [r for r in session_records if r.key in forged_patients]
