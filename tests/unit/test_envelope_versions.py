"""Envelope version 2: the stream position is `streamsequence` (the CloudEvents Sequence extension
is a string ordered within a source), `dataschema` names the schema of `data`, and the digest is
RFC 8785 canonical JSON, named by `digestalg`. Version 1 records, kept on the log for ever, are
upcast when read and still verify; a stream may hold both."""

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from carepath.audit.verify import Location, LogVerifier
from carepath.chassis.database import create_engine, create_tables
from carepath.chassis.evidence import Verifier, canonical, digest, jcs, load_signer
from carepath.chassis.evidence_pool import evidence_of
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts import CloudEvent
from carepath.contracts.eligibility import ScreeningStarted
from carepath.contracts.envelope import JCS_SHA256, STREAM_SEQUENCE_MAX
from carepath.contracts.publish import current_schemas

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "contracts" / "vectors" / "evidence-digests.json").read_text())
V1, V2 = (CloudEvent.from_json(event["value"]) for event in VECTORS["events"])
TEST_KEYS = Verifier({"session": VECTORS["public_key"]})


def published(value: str | bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(value)
    return document


def test_a_version_1_record_is_read_as_version_2_and_written_out_as_published() -> None:
    as_published = published(VECTORS["events"][0]["value"])
    assert (V1.envelopeversion, V1.streamsequence) == (1, as_published["sequence"])
    assert V1.dataschema is None and V1.digestalg is None
    assert published(V1.to_json()) == as_published  # same attributes, same values


def test_a_version_1_record_keeps_its_legacy_digest_and_signature() -> None:
    [first, _] = VECTORS["events"]
    unsigned = {k: v for k, v in published(first["value"]).items() if k != "signature"}
    assert canonical(unsigned).decode() == first["canonical"]
    assert digest(V1) == first["sha256"]
    assert TEST_KEYS.problem(V1) is None


def test_a_version_2_record_is_digested_as_rfc_8785_canonical_json() -> None:
    second = VECTORS["events"][1]
    unsigned = {k: v for k, v in published(second["value"]).items() if k != "signature"}
    assert V2.envelopeversion == 2 and V2.digestalg == JCS_SHA256
    assert jcs(unsigned).decode() == second["canonical"]
    assert digest(V2) == second["sha256"]
    assert TEST_KEYS.problem(V2) is None
    # what Python digests is the document as published, which another language parses
    assert V2.model_dump(mode="json", exclude_none=True) == published(second["value"])


def test_a_stream_chains_across_the_version_boundary() -> None:
    assert V2.prevhash == digest(V1) and V2.streamsequence == V1.streamsequence + 1
    log = LogVerifier(TEST_KEYS)
    for offset, event in enumerate((V1, V2)):
        log.check(Location("carepath.session.events", 0, offset), event.to_json())
    assert log.findings == []


def test_jcs_edge_cases_match_the_published_vector() -> None:
    edge = VECTORS["jcs_edge_cases"]
    assert jcs(json.loads(edge["input"])).hex() == edge["canonical_hex"]


def test_removing_digestalg_to_downgrade_breaks_the_signature() -> None:
    downgraded = V2.model_copy(update={"digestalg": None})
    assert TEST_KEYS.problem(downgraded) == (
        "signature does not verify with the key 56475aa75463474c of session"
    )


def test_an_unknown_digest_algorithm_fails_closed() -> None:
    unknown = V2.model_copy(update={"digestalg": "sha1-of-vibes"})
    assert TEST_KEYS.problem(unknown) == "unknown digest algorithm 'sha1-of-vibes'"
    evidence = evidence_of(TEST_KEYS, unknown)
    assert evidence.digest == "" and evidence.signature_problem
    log = LogVerifier(TEST_KEYS)
    log.check(Location("carepath.session.events", 0, 0), V1.to_json())
    log.check(Location("carepath.session.events", 0, 1), unknown.to_json())
    assert [finding.kind for finding in log.findings] == ["signature"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sequence": 2}, "sequence"),  # version 2 names it streamsequence
        ({"envelopeversion": 1}, "envelopeversion"),  # version 1 has no such attribute
        ({"streamsequence": STREAM_SEQUENCE_MAX + 1}, "streamsequence"),  # a CloudEvents Integer
    ],
)
def test_a_malformed_version_2_envelope_is_refused_naming_the_attribute(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        CloudEvent.model_validate({**published(V2.to_json()), **change})
    assert field in str(refused.value)


def test_every_published_dataschema_is_the_id_of_a_published_schema() -> None:
    schemas = current_schemas()
    assert V2.dataschema == schemas[V2.type]["$id"]


async def appended(store: EventStore, stream: str, version: int, patient: Any) -> CloudEvent:
    [recorded] = await store.append(
        stream,
        version,
        [ScreeningStarted(patient_id=patient, intake_completed_event_id=uuid4())],
        subject=str(patient),
        metadata=EventMetadata(
            source="/carepath/eligibility", actor="service:eligibility", correlation_id="c"
        ),
    )
    return recorded.to_cloud_event()


async def test_the_store_writes_the_configured_version_and_reads_each_as_recorded(
    tmp_path: Path,
) -> None:
    """A rolling upgrade: events recorded as version 1 (CAREPATH_ENVELOPE_VERSION=1), then
    version 2 in the same stream, each published and verified as it was recorded."""
    engine = create_engine(f"sqlite:///{tmp_path / 'eligibility.db'}")
    await create_tables(engine)
    signer = load_signer("eligibility", tmp_path / "keys")
    patient = uuid4()
    stream = f"eligibility-{patient}"
    try:
        first = await appended(EventStore(engine, signer, envelope_version=1), stream, 0, patient)
        second = await appended(EventStore(engine, signer, envelope_version=2), stream, 1, patient)
        reloaded = [e.to_cloud_event() for e in await EventStore(engine).load(stream)]
    finally:
        await engine.dispose()

    assert reloaded == [first, second]
    assert b'"sequence":1' in first.to_json() and b"envelopeversion" not in first.to_json()
    assert (second.envelopeversion, second.streamsequence, second.digestalg) == (2, 2, JCS_SHA256)
    assert second.dataschema == current_schemas()[second.type]["$id"]
    assert second.prevhash == digest(first)
    verifier = Verifier.from_directory(tmp_path / "keys")
    assert [verifier.problem(event) for event in reloaded] == [None, None]


@pytest.mark.parametrize(
    ("as_signed", "as_altered"),
    [
        ('"streamsequence":2', '"streamsequence":"2"'),  # the same number to a lax parser
        ('"time":"2026-11-25T10:05:00Z"', '"time":"2026-11-25T10:05:00+00:00"'),  # same instant
        ('"id":"d1f0c2b4', '"id":"D1F0C2B4'),  # the same UUID
    ],
)
def test_a_version_2_record_written_otherwise_than_signed_is_refused(
    as_signed: str, as_altered: str
) -> None:
    """Its digest is over the record as read (what a JavaScript verifier hashes): one whose
    values parse the same but are written otherwise would verify in Python only."""
    value = VECTORS["events"][1]["value"]
    assert as_signed in value
    altered = value.replace(as_signed, as_altered)
    with pytest.raises(ValidationError) as refused:
        CloudEvent.from_json(altered)
    assert [e["type"] for e in refused.value.errors()] == ["not_as_published"]
    log = LogVerifier(TEST_KEYS)
    log.check(Location("carepath.session.events", 0, 0), altered.encode())
    assert [finding.kind for finding in log.findings] == ["not a CloudEvent"]


@pytest.mark.parametrize("attribute", ["digestalg", "dataschema"])
def test_a_version_2_record_without_its_digest_algorithm_or_schema_is_refused(
    attribute: str,
) -> None:
    """Without `digestalg` it would be digested the legacy way: fail closed instead."""
    document = published(VECTORS["events"][1]["value"])
    del document[attribute]
    with pytest.raises(ValidationError) as refused:
        CloudEvent.from_json(json.dumps(document))
    assert [e["type"] for e in refused.value.errors()] == ["incomplete_envelope"]
