"""Every field of every event says how much it tells about a person (identifying, free text,
plain), in the models and in the published schemas, so subscribers know what they receive."""

import json
from pathlib import Path

import yaml

from carepath.contracts import registry
from carepath.contracts.privacy import (
    DATA_CLASS_KEYWORD,
    SEALED_KEYWORD,
    DataClass,
    protected_fields,
)
from carepath.contracts.publish import CONTRACTS_DIR

ID, F = "identifying", "free_text"

# The inventory of what must be protected: a new field that names or describes a patient is
# added here on purpose, and a field that leaves this list is a decision someone reviewed.
PROTECTED = {
    "carepath.access.AlertAcknowledged.v1": {"note": F},
    "carepath.access.AlertAcknowledged.v2": {"note": F},
    "carepath.eligibility.EligibilityReviewed.v1": {"rationale": F},
    "carepath.eligibility.EligibilityReviewed.v2": {"rationale": F},
    "carepath.intake.ConsentWithdrawn.v1": {"reason": F},
    "carepath.intake.ConsentWithdrawn.v2": {"reason": F},
    "carepath.intake.PatientReferred.v1": {
        "given_name": ID,
        "family_name": ID,
        "date_of_birth": ID,
        "referrer": ID,
        "contact": ID,
    },
    "carepath.intake.PatientReferred.v2": {
        "given_name": ID,
        "family_name": ID,
        "date_of_birth": ID,
        "referrer": ID,
        "contact": ID,
    },
    "carepath.integration.CourseDiscontinued.v1": {"details": F},
    "carepath.integration.CourseDiscontinued.v2": {"details": F},
    "carepath.integration.IntegrationSessionCompleted.v1": {"themes": F, "notes": F},
    "carepath.integration.IntegrationSessionCompleted.v2": {"themes": F, "notes": F},
    "carepath.session.AdverseEventReported.v1": {"description": F},
    "carepath.session.AdverseEventReported.v2": {"description": F},
    "carepath.session.BoosterSessionAdded.v1": {"rationale": F},
    "carepath.session.BoosterSessionAdded.v2": {"rationale": F},
    "carepath.session.CourseResumed.v1": {"rationale": F},
    "carepath.session.CourseResumed.v2": {"rationale": F},
    "carepath.session.CourseSuspended.v1": {"rationale": F},
    "carepath.session.CourseSuspended.v2": {"rationale": F},
    "carepath.session.DoseAdministered.v1": {"override_rationale": F},
    "carepath.session.DoseAdministered.v2": {"override_rationale": F},
    "carepath.session.MaintenancePhaseStarted.v1": {"rationale": F},
    "carepath.session.MaintenancePhaseStarted.v2": {"rationale": F},
    "carepath.session.ObservationRecorded.v1": {"other_side_effect": F, "notes": F},
    "carepath.session.ObservationRecorded.v2": {"other_side_effect": F, "notes": F},
    "carepath.session.PreparationSessionCompleted.v1": {
        "intentions": F,
        "mindfulness_practice": F,
        "therapist_notes": F,
    },
    "carepath.session.PreparationSessionCompleted.v2": {
        "intentions": F,
        "mindfulness_practice": F,
        "therapist_notes": F,
    },
}


def test_the_identifying_and_free_text_fields_are_the_reviewed_inventory() -> None:
    found = {
        model.event_type(): {name: found.value for name, found in protected_fields(model).items()}
        for model in registry.models()
        if protected_fields(model)
    }
    assert found == PROTECTED


def test_from_version_2_every_protected_field_is_published_sealed() -> None:
    for model in registry.models():
        properties = json.loads(
            (CONTRACTS_DIR / "schemas" / f"{model.event_type()}.json").read_text()
        )["properties"]
        for name in protected_fields(model):
            sealed = properties[name].get(SEALED_KEYWORD) == "enc:v1"
            assert sealed is (model.version >= 2), f"{model.event_type()}: {name}"


def test_every_property_of_every_published_schema_states_its_data_class() -> None:
    allowed = {member.value for member in DataClass}
    for path in sorted((CONTRACTS_DIR / "schemas").glob("*.json")):
        schema = json.loads(path.read_text())
        for node in (schema, *schema.get("$defs", {}).values()):
            for name, prop in node.get("properties", {}).items():
                assert prop.get(DATA_CLASS_KEYWORD) in allowed, f"{path.name}: {name}"


def test_the_asyncapi_document_states_them_too() -> None:
    document = yaml.safe_load(Path(CONTRACTS_DIR / "asyncapi.yaml").read_text())
    referral = document["components"]["schemas"]["PatientReferred"]["properties"]
    assert referral["given_name"][DATA_CLASS_KEYWORD] == ID
    assert referral["patient_id"][DATA_CLASS_KEYWORD] == "plain"
