"""The audit trail: one entry per event, answering who did what to which patient, which data,
when, from where and why; entries are chained by hash so the trail itself is tamper-evident.
Maps to FHIR R4 AuditEvent."""

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from carepath.chassis.evidence import canonical
from carepath.contracts import CloudEvent, parse_actor

CREATES = {
    "PatientReferred",
    "ScreeningStarted",
    "CourseOpened",
    "DosingSessionScheduled",
    "IntegrationSessionDue",
    "PreparationSessionCompleted",
    "IntegrationSessionCompleted",
}
CATEGORY = {
    "PatientReferred": "demographics",
    "ErasureRecorded": "demographics",
    "IntakeFormSubmitted": "intake_form",
    "IntakeCompleted": "intake_form",
    "AssessmentScored": "assessments",
    "SuicideRiskScreened": "assessments",
    "SuicidalityFlagRaised": "assessments",
    "ConsentGiven": "consent",
    "ConsentWithdrawn": "consent",
    "OutcomeMeasured": "outcomes",
    "CourseCompleted": "outcomes",
    "CourseDiscontinued": "outcomes",
    "IntegrationSessionCompleted": "integration_notes",
    "IntegrationSessionDue": "integration_notes",
    "IntegrationSessionOverdue": "integration_notes",
}
CONTEXT_CATEGORY = {
    "eligibility": "eligibility",
    "session": "session_clinical",
    "integration": "outcomes",
}
FIELDS = (
    "recorded",
    "patient_id",
    "user_id",
    "role",
    "action",
    "outcome",
    "event_type",
    "data_category",
    "source",
    "client_address",
    "purpose",
    "consent",
    "event_id",
    "location",
    "entry_hash",
)


DEFAULT_PURPOSE = {"service": "operations", "operator": "operations", "auditor": "audit"}
"""A change's purpose of use when its event does not say (events before `purposeofuse`)."""


def consent_change(event: CloudEvent) -> tuple[bool, str | None]:
    """Whether `event` changes its patient's consent in force, and to what: a `ConsentGiven`
    becomes it (its event id), a `ConsentWithdrawn` ends it (None)."""
    if ".ConsentGiven." in event.type:
        return True, str(event.id)
    return ".ConsentWithdrawn." in event.type, None


@dataclass(frozen=True)
class AuditEntry:
    """One line of the trail."""

    recorded: str
    patient_id: str
    user_id: str
    role: str
    action: str  # FHIR AuditEvent.action: C R U D E
    outcome: str  # FHIR AuditEvent.outcome: 0 4 8 12
    event_type: str
    data_category: str
    source: str
    client_address: str | None
    purpose: str
    consent: str | None
    event_id: str
    location: str  # topic[partition]@offset
    entry_hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def entry_for(
    event: CloudEvent, location: str, previous_hash: str, consent_in_force: str | None = None
) -> AuditEntry:
    """The trail entry of one event, chained to the entry before it. Its purpose of use is the
    one the caller declared (a read's, or a change's `purposeofuse` attribute), else the role's
    default; its consent is the one the event names, else the patient's consent in force."""
    name = event.type.split(".")[2]
    context = event.type.split(".")[1]
    role, user_id = parse_actor(event.actor)
    data: dict[str, Any] = event.data
    if name == "RecordAccessed":
        action = {"read": "R", "export": "R", "create": "C", "update": "U", "delete": "D"}.get(
            data["action"], "E"
        )
        outcome = {"success": "0", "denied": "4", "failed": "8"}[data["outcome"]]
        category = ",".join(data["data_categories"])
        purpose, consent, client = (
            data["purpose_of_use"],
            data.get("consent_event_id") or consent_in_force,
            data.get("client_address"),
        )
    else:
        action = (
            "E"
            if role == "service"
            else "C"
            if name in CREATES
            else "D"
            if name == "ErasureRecorded"  # the patient's identifying data, destroyed
            else "U"
        )
        outcome, category = "0", CATEGORY.get(name, CONTEXT_CATEGORY.get(context, context))
        declared = getattr(event, "purposeofuse", None)
        purpose = declared or DEFAULT_PURPOSE.get(role, "treatment")
        consent, client = consent_in_force, None
    entry = AuditEntry(
        recorded=event.time.isoformat(),
        patient_id=event.subject,
        user_id=user_id,
        role=role,
        action=action,
        outcome=outcome,
        event_type=event.type,
        data_category=category,
        source=event.source,
        client_address=client,
        purpose=purpose,
        consent=consent,
        event_id=str(event.id),
        location=location,
    )
    chained = hashlib.sha256(previous_hash.encode() + canonical(entry.as_dict())).hexdigest()
    return AuditEntry(**{**entry.as_dict(), "entry_hash": chained})


def fhir_bundle(entries: list[AuditEntry]) -> dict[str, Any]:
    """A FHIR R4 Bundle (type collection) of AuditEvent resources, validated by fhir.resources."""
    from fhir.resources.R4B.bundle import Bundle

    resources = [
        {
            "fullUrl": f"urn:uuid:{e.event_id}",
            "resource": {
                "resourceType": "AuditEvent",
                "id": e.event_id,
                "type": {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": "110110",
                    "display": "Patient Record",
                },
                "subtype": [{"system": "urn:carepath:event-type", "code": e.event_type}],
                "action": e.action,
                "recorded": e.recorded,
                "outcome": e.outcome,
                "purposeOfEvent": [
                    {"coding": [{"system": "urn:carepath:purpose-of-use", "code": e.purpose}]}
                ],
                "agent": [
                    {
                        "type": {"coding": [{"system": "urn:carepath:role", "code": e.role}]},
                        "who": {"identifier": {"system": "urn:carepath:user", "value": e.user_id}},
                        "requestor": e.role != "service",
                        **(
                            {"network": {"address": e.client_address, "type": "2"}}
                            if e.client_address
                            else {}
                        ),
                    }
                ],
                "source": {"observer": {"display": e.source}, "site": "carepath"},
                "entity": [
                    {
                        "what": {
                            "identifier": {"system": "urn:carepath:patient", "value": e.patient_id}
                        },
                        "type": {
                            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                            "code": "1",
                        },
                        "role": {
                            "system": "http://terminology.hl7.org/CodeSystem/object-role",
                            "code": "1",
                        },
                        "description": e.data_category,
                    }
                ],
            },
        }
        for e in entries
    ]
    bundle = Bundle.model_validate(
        {"resourceType": "Bundle", "type": "collection", "entry": resources}
    )
    document: dict[str, Any] = bundle.model_dump(mode="json", exclude_none=True)
    return document
