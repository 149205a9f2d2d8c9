"""The compatibility gate fails, naming the event and the field, on every kind of breaking edit,
and passes on additive ones."""

from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import Field, create_model
from typer.testing import CliRunner

from carepath.contracts.compat import breaking_changes
from carepath.contracts.intake import IntakeEvent, PatientReferredV1
from carepath.contracts.publish import app, current_schemas, event_schema

TYPE = "carepath.intake.PatientReferred.v1"
PUBLISHED = event_schema(PatientReferredV1)  # the clear form: field types to edit


def edited(**fields: Any) -> dict[str, Any]:
    """The schema of PatientReferred v1 with some fields replaced (None: removed)."""
    kept: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in PatientReferredV1.model_fields.items()
        if name not in fields
    }
    kept.update({name: spec for name, spec in fields.items() if spec is not None})
    model = create_model("PatientReferred", __base__=IntakeEvent, **kept)
    model.sealed = False
    return event_schema(model)


def reasons(current: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b.field, b.reason) for b in breaking_changes(TYPE, PUBLISHED, current)]


def test_an_unchanged_schema_is_compatible() -> None:
    assert reasons(PUBLISHED) == []


def test_adding_an_optional_field_is_compatible() -> None:
    assert reasons(edited(preferred_language=(str | None, Field(default=None)))) == []


def test_widening_is_compatible() -> None:
    widened = edited(
        referrer=(str, Field(min_length=1, max_length=500)), patient_id=(UUID | None, None)
    )
    assert reasons(widened) == []


def test_removing_a_field_breaks_naming_it() -> None:
    assert reasons(edited(referrer=None)) == [("referrer", "removed or renamed")]


def test_renaming_a_field_breaks_naming_it() -> None:
    found = reasons(edited(contact=None, contact_details=(str | None, None)))
    assert ("contact", "removed or renamed") in found


def test_changing_a_type_breaks() -> None:
    [(field, reason)] = reasons(edited(referrer=(int, ...)))
    assert field == "referrer"
    assert reason == "type changed from string to integer"


def test_a_new_required_field_breaks() -> None:
    [(field, reason)] = reasons(edited(nhs_number=(str, ...)))
    assert field == "nhs_number"
    assert reason.startswith("new required field")


def test_narrowing_an_enum_breaks() -> None:
    class FewerReasons(StrEnum):
        DEPRESSION = "depression"
        PTSD = "ptsd"
        ANXIETY = "anxiety"

    [(field, reason)] = reasons(edited(referral_reason=(FewerReasons, ...)))
    assert field == "referral_reason"
    assert "chronic_pain" in reason and "narrowed" in reason


def test_narrowing_a_range_breaks() -> None:
    [(field, reason)] = reasons(edited(given_name=(str, Field(min_length=1, max_length=50))))
    assert (field, reason) == ("given_name", "maxLength narrowed from 100 to 50")


def test_the_check_command_fails_on_a_breaking_edit_and_names_event_and_field(
    tmp_path: Path,
) -> None:
    # Published: what we have now plus a field the current model no longer has.
    import json

    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for event_type, schema in current_schemas().items():
        (schemas / f"{event_type}.json").write_text(json.dumps(schema))
    published = json.loads((schemas / f"{TYPE}.json").read_text())
    published["properties"]["nhs_number"] = {"type": "string"}
    (schemas / f"{TYPE}.json").write_text(json.dumps(published))

    result = CliRunner().invoke(app, ["generate", "--directory", str(tmp_path)])

    assert result.exit_code == 1
    assert f"{TYPE}: field `nhs_number`: removed or renamed" in result.output
    assert json.loads((schemas / f"{TYPE}.json").read_text()) == published  # nothing written


@pytest.mark.parametrize("event_type", sorted(current_schemas()))
def test_every_published_schema_is_compatible_with_the_current_model(event_type: str) -> None:
    from carepath.contracts.publish import CONTRACTS_DIR, compatibility_breaks, published_schemas

    published = published_schemas(CONTRACTS_DIR / "schemas")
    breaks = compatibility_breaks(
        {k: v for k, v in published.items() if k == event_type}, current_schemas()
    )
    assert not breaks, "\n".join(map(str, breaks))
