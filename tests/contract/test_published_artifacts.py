"""The checked-in schemas and AsyncAPI document: current, valid, and matched by real events."""

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from uuid import uuid4

import jsonschema
import pytest
from samples import sample_event

from carepath.chassis.field_crypto import new_data_key
from carepath.chassis.sealing import seal, unseal
from carepath.contracts import CloudEvent, registry
from carepath.contracts.privacy import is_sealed, is_sealed_value, protected_fields
from carepath.contracts.publish import (
    CONTRACTS_DIR,
    compatibility_breaks,
    current_schemas,
    published_schemas,
    stale_artifacts,
)

SCHEMAS = sorted((CONTRACTS_DIR / "schemas").glob("*.json"))
VALIDATOR = CONTRACTS_DIR / "tools" / "asyncapi-validate"


def test_the_checked_in_artifacts_are_what_make_contracts_generates() -> None:
    assert stale_artifacts(CONTRACTS_DIR) == [], "run `make contracts` and commit the result"


def test_every_registered_event_type_is_published() -> None:
    assert sorted(p.stem for p in SCHEMAS) == registry.types()


def test_no_published_schema_is_broken_by_the_current_models() -> None:
    breaks = compatibility_breaks(published_schemas(CONTRACTS_DIR / "schemas"), current_schemas())
    assert not breaks, "\n".join(map(str, breaks))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_every_schema_passes_the_2020_12_metaschema(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("event_type", registry.types())
def test_a_sample_of_every_event_type_validates_and_round_trips_through_the_envelope(
    event_type: str,
) -> None:
    model = registry.model_for(event_type)
    event = sample_event(model)
    event_id, key = uuid4(), new_data_key()
    clear: dict[str, Any] = event.model_dump(mode="json")
    data = seal(clear, event_type, event_id, key)  # as stored and sent: protected fields sealed
    schema = json.loads((CONTRACTS_DIR / "schemas" / f"{event_type}.json").read_text())

    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data
    )

    patient = str(uuid4())
    envelope = CloudEvent(
        id=event_id,
        source=f"/carepath/{model.context}",
        type=event_type,
        time="2026-11-25T10:00:00Z",
        subject=patient,
        data=data,
        sequence=1,
        streamid=f"{model.context}-{patient}",
        correlationid="c-1",
        actor="clinician:u-1",
    )
    received = CloudEvent.from_json(envelope.to_json())
    assert received == envelope
    assert model.model_validate(unseal(received.data, event_type, received.id, key)) == event
    assert type(registry.parse(received.type, received.data)).event_type() == registry.latest(
        event_type
    )
    if is_sealed(model):  # nothing protected in clear on the wire
        for name in protected_fields(model):
            assert clear[name] is None or is_sealed_value(received.data[name]), name


def test_the_asyncapi_document_passes_the_official_parser() -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed to run @asyncapi/parser"
    assert (VALIDATOR / "node_modules").exists(), "run `make contracts-tools` (npm ci) first"
    result = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs"), str(CONTRACTS_DIR / "asyncapi.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout


def test_a_sealed_field_opens_in_javascript_as_the_contract_describes() -> None:
    # A subscriber in another language follows contracts/README.md ("Patient data"), with its
    # platform's AES-GCM: here Node's Web Crypto, no CarePath code.
    node = shutil.which("node")
    assert node, "Node.js is needed for the JavaScript example"
    key, event_id = new_data_key(), uuid4()
    referral = sample_event(registry.model_for("carepath.intake.PatientReferred.v2"))
    sealed = seal(referral.model_dump(mode="json"), referral.event_type(), event_id, key)
    result = subprocess.run(
        [
            node,
            str(CONTRACTS_DIR / "examples" / "open_sealed.mjs"),
            base64.b64encode(key).decode(),
            str(event_id),
            "date_of_birth",
            sealed["date_of_birth"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == referral.model_dump(mode="json")["date_of_birth"]
