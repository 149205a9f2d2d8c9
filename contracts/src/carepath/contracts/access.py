"""Events of the access context (`carepath.access.events`): who touched which patient's record.

Changes to a record are already events of their own context; this topic adds what those do not
show: reads, searches and exports of patient records, and attempts that were denied or failed.
One `RecordAccessed` maps to one FHIR R4 AuditEvent: `action` and `outcome` by their `fhir_code`,
`accessed_at` to `recorded`, user, role, client address and purpose of use to `agent`, `service`
to `source`, and the patient with the data categories to `entity`.
"""

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, field_validator

from carepath.contracts.common import PatientId
from carepath.contracts.events import DomainEvent, registry, sealed_successor
from carepath.contracts.privacy import FREE_TEXT

PURPOSE_OF_USE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
"""Code system of `PurposeOfUse.hl7_code` (FHIR `AuditEvent.purposeOfEvent`)."""


class AccessAction(StrEnum):
    """What was done with the record; `fhir_code` is the FHIR R4 `AuditEvent.action` code.

    create C, read R, update U, delete D, execute E; a search is E (FHIR files queries under
    execute); an export is R (as in the DICOM Export audit message, 110106).
    """

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    EXECUTE = "execute"
    SEARCH = "search"
    EXPORT = "export"

    @property
    def fhir_code(self) -> str:
        """The FHIR R4 `AuditEvent.action` code: C, R, U, D or E."""
        return _FHIR_ACTION[self]


_FHIR_ACTION: dict[AccessAction, str] = {
    AccessAction.CREATE: "C",
    AccessAction.READ: "R",
    AccessAction.UPDATE: "U",
    AccessAction.DELETE: "D",
    AccessAction.EXECUTE: "E",
    AccessAction.SEARCH: "E",
    AccessAction.EXPORT: "R",
}


class DataCategory(StrEnum):
    """Which kind of patient data was accessed (FHIR `AuditEvent.entity`)."""

    DEMOGRAPHICS = "demographics"
    INTAKE_FORM = "intake_form"
    ASSESSMENTS = "assessments"
    CONSENT = "consent"
    ELIGIBILITY = "eligibility"
    SESSION_CLINICAL = "session_clinical"
    INTEGRATION_NOTES = "integration_notes"
    OUTCOMES = "outcomes"
    AUDIT_TRAIL = "audit_trail"
    DATA_KEY = "data_key"  # the patient's data key, which opens their sealed fields


class PurposeOfUse(StrEnum):
    """Why the record was accessed; `hl7_code` is the HL7 v3 ActReason code.

    treatment TREAT; operations HOPERAT (healthcare operations); audit HCOMPL (health compliance,
    a kind of healthcare operations); patient_request PATRQT (patient requested).
    """

    TREATMENT = "treatment"
    OPERATIONS = "operations"
    AUDIT = "audit"
    PATIENT_REQUEST = "patient_request"

    @property
    def hl7_code(self) -> str:
        """The code in `PURPOSE_OF_USE_SYSTEM`, e.g. `TREAT`."""
        return _HL7_PURPOSE[self]


_HL7_PURPOSE: dict[PurposeOfUse, str] = {
    PurposeOfUse.TREATMENT: "TREAT",
    PurposeOfUse.OPERATIONS: "HOPERAT",
    PurposeOfUse.AUDIT: "HCOMPL",
    PurposeOfUse.PATIENT_REQUEST: "PATRQT",
}


class AccessOutcome(StrEnum):
    """How the access ended; `fhir_code` is the FHIR R4 `AuditEvent.outcome` code.

    success 0; denied 4 (minor failure: refused, like an HTTP 4xx); failed 8 (serious failure: an
    unexpected error, like an HTTP 5xx). Code 12 (the system died) is never recorded by a service.
    """

    SUCCESS = "success"
    DENIED = "denied"
    FAILED = "failed"

    @property
    def fhir_code(self) -> str:
        """The FHIR R4 `AuditEvent.outcome` code: 0, 4 or 8."""
        return _FHIR_OUTCOME[self]


_FHIR_OUTCOME: dict[AccessOutcome, str] = {
    AccessOutcome.SUCCESS: "0",
    AccessOutcome.DENIED: "4",
    AccessOutcome.FAILED: "8",
}

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class AccessEvent(DomainEvent):
    """Base of the access context's events."""

    context = "access"


@registry.register
class RecordAccessed(AccessEvent):
    """A user or service accessed a patient's record, or tried to and was denied or failed."""

    clinical_time_field = "accessed_at"

    patient_id: PatientId
    accessed_at: Annotated[AwareDatetime, AfterValidator(_in_utc)] = Field(
        description="When the access happened, by the service's clock; stored in UTC."
    )
    user_id: str = Field(
        min_length=1, max_length=200, description="Who: the caller's user id (token subject)."
    )
    role: str = Field(
        min_length=1,
        max_length=50,
        pattern=r"^[a-z][a-z_]*$",
        description="The caller's role, from the token.",
        examples=["clinician", "auditor", "service"],
    )
    action: AccessAction = Field(description="What was done with the record.")
    data_categories: list[DataCategory] = Field(
        min_length=1,
        max_length=len(DataCategory),
        description="Which kinds of the patient's data were accessed, each once.",
    )
    resource: str = Field(
        min_length=3,
        max_length=200,
        pattern=r"^[A-Z]+ /[^\s?#]*$",
        description="`<METHOD> <route template>` that was called; a template, never a URL with "
        "ids or query values.",
        examples=["GET /patients/{patient_id}", "GET /trail"],
    )
    service: str = Field(
        min_length=1,
        max_length=50,
        pattern=r"^[a-z-]+$",
        description="The service that served the access, as in `/carepath/<service>`.",
        examples=["intake", "audit"],
    )
    client_address: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Network address of the client, as the service saw it; personal data when "
        "the client is the patient.",
    )
    purpose_of_use: PurposeOfUse = Field(description="Why the record was accessed.")
    consent_event_id: UUID | None = Field(
        default=None,
        description="Event id of the `ConsentGiven` the access relied on; null when none did.",
    )
    outcome: AccessOutcome = Field(description="Whether the access succeeded.")

    @field_validator("data_categories")
    @classmethod
    def _each_category_once(cls, categories: list[DataCategory]) -> list[DataCategory]:
        repeated = sorted({category for category in categories if categories.count(category) > 1})
        if repeated:
            raise ValueError(f"list each data category once; repeated: {', '.join(repeated)}")
        return categories

    @field_validator("resource")
    @classmethod
    def _route_template(cls, resource: str) -> str:
        if _UUID.search(resource):
            raise ValueError(
                "must be a route template such as `GET /patients/{patient_id}`, not a path with ids"
            )
        return resource


@registry.register
class AlertAcknowledged(AccessEvent):
    """A clinician acknowledged a safety alert on the dashboard: who, when, and which alert."""

    version = 2  # v2: its note sealed with the patient's data key

    clinical_time_field = "acknowledged_at"

    patient_id: PatientId
    alert_event_id: UUID = Field(description="Event id of the alert (the event that raised it).")
    alert_kind: str = Field(
        min_length=1, max_length=50, description="Kind of alert, e.g. `vitals`."
    )
    acknowledged_at: Annotated[AwareDatetime, AfterValidator(_in_utc)] = Field(
        description="When it was acknowledged, by the service's clock; stored in UTC."
    )
    user_id: str = Field(min_length=1, max_length=200, description="Who acknowledged it.")
    role: str = Field(
        min_length=1, max_length=50, pattern=r"^[a-z][a-z_]*$", description="Their role."
    )
    note: str | None = Field(
        json_schema_extra=FREE_TEXT,
        default=None,
        max_length=2000,
        description="What was done about it (PHI).",
    )


AlertAcknowledgedV1 = sealed_successor(AlertAcknowledged, __name__)
"""Version 1 of `AlertAcknowledged` (superseded): its note in clear. Read as v2."""
