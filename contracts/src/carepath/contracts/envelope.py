"""The CloudEvents 1.0 envelope every CarePath event travels in (structured JSON mode).

Wire format (ARCHITECTURE.md, "Events on the wire"): the Kafka value is this document with
`content-type: application/cloudevents+json`; the key is the patient id; the headers repeat
the type and id (`carepath_type`, `carepath_id`) and `traceparent` so that routers need not parse
the value. No header starts with `ce_`: the CloudEvents Kafka binding reads such headers as the
attributes of a binary-mode event (the Python SDK does so even beside a structured content type),
so records written before (with `ce_type`, `ce_id`) are read with `routing_header`.

Envelope versions. Version 2 (`envelopeversion: 2`) carries the stream position as
`streamsequence`, names the schema of `data` in `dataschema` and digests the event as RFC 8785
canonical JSON (`digestalg: jcs-sha256`), which a verifier in any language reproduces. Version 1
(records written before 2026-11-29, kept for ever) has no `envelopeversion`, carries the position
as `sequence` (which the CloudEvents Sequence extension defines as a string ordered within a
`source`, not a stream) and the legacy digest. Reading a version 1 record upcasts it: the model
holds `streamsequence`, and `envelopeversion` 1 remembers that it was published as version 1, so
that it is written out (and digested) exactly as published.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_serializer,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

CONTENT_TYPE = "application/cloudevents+json"
ENVELOPE_VERSIONS = (1, 2)
JCS_SHA256 = "jcs-sha256"
"""The version 2 digest: SHA-256 of the RFC 8785 canonical JSON of the event without `signature`."""
STREAM_SEQUENCE_MAX = 2**31 - 1  # a CloudEvents Integer is 32-bit


def schema_id(event_type: str) -> str:
    """The `$id` of the published JSON Schema of an event type's `data`: its `dataschema`."""
    return f"urn:carepath:event:{event_type}"


def actor_attribute(role: str, user_id: str) -> str:
    """Encode who caused an event as the `actor` attribute: `<role>:<user id>`."""
    return f"{role}:{user_id}"


def parse_actor(actor: str) -> tuple[str, str]:
    """Split an `actor` attribute into (role, user id)."""
    role, _, user_id = actor.partition(":")
    return role, user_id


TYPE_HEADER, ID_HEADER = "carepath_type", "carepath_id"
LEGACY_HEADERS = {TYPE_HEADER: "ce_type", ID_HEADER: "ce_id"}  # on records written before


def routing_header(headers: Mapping[str, str], name: str) -> str | None:
    """A record's `carepath_type` or `carepath_id` header, or the `ce_type` or `ce_id` that
    records written before carry instead; None when it has neither."""
    found = headers.get(name)
    return found if found is not None else headers.get(LEGACY_HEADERS[name])


def _either_version(schema: dict[str, Any]) -> None:
    """The published schema of the envelope: version 2, or version 1 as kept on the log."""
    schema["required"] = [name for name in schema["required"] if name != "streamsequence"]
    schema["properties"]["envelopeversion"] = {
        "const": 2,
        "description": schema["properties"]["envelopeversion"]["description"],
    }
    schema["properties"]["sequence"] = {
        "type": "integer",
        "minimum": 1,
        "deprecated": True,
        "description": "Version 1's name of `streamsequence` (records written before 2026-11-29).",
    }
    schema["oneOf"] = [
        {
            "title": "version 2",
            "required": ["envelopeversion", "streamsequence", "dataschema", "digestalg"],
            "not": {"required": ["sequence"]},
        },
        {
            "title": "version 1",
            "required": ["sequence"],
            "not": {"anyOf": [{"required": ["envelopeversion"]}, {"required": ["streamsequence"]}]},
        },
    ]


class CloudEvent(BaseModel):
    """One event on the wire. `data` is the payload of the event model named by `type`."""

    model_config = ConfigDict(frozen=True, extra="allow", json_schema_extra=_either_version)

    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(description="Event id; the idempotency key consumers deduplicate by.")
    source: str = Field(pattern=r"^/carepath/[a-z-]+$", description="/carepath/<service>")
    type: str = Field(
        pattern=r"^carepath\.[a-z]+\.[A-Za-z]+\.v[0-9]+$",
        description="carepath.<context>.<EventName>.v<N>",
    )
    time: AwareDatetime = Field(description="When the event was recorded (UTC).")
    subject: str = Field(description="The patient id the event is about.")
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    streamsequence: int = Field(
        ge=1,
        le=STREAM_SEQUENCE_MAX,
        description="Position in its stream (`streamid`), gapless from 1. Version 1 records "
        "carry it as `sequence`.",
    )
    envelopeversion: Literal[1, 2] = Field(
        default=2,
        description="2. Absent on version 1 records, which carry `sequence` instead of "
        "`streamsequence` and no `dataschema` or `digestalg`.",
    )
    dataschema: str | None = Field(
        default=None,
        description="The `$id` of the JSON Schema of `data` (contracts/schemas/<type>.json).",
    )
    digestalg: str | None = Field(
        default=None,
        max_length=40,
        description="How the event's digest is computed (`jcs-sha256`); absent: the legacy "
        "digest of version 1. A verifier fails an algorithm it does not know.",
    )
    streamid: str = Field(description="The event-sourced stream the event belongs to.")
    correlationid: str = Field(description="Id shared by everything one request caused.")
    causationid: str | None = Field(
        default=None, description="Id of the event or request that caused this one."
    )
    actor: str = Field(description="`<role>:<user id>` of who caused the event.")
    traceparent: str | None = Field(default=None, description="W3C trace context of the cause.")
    purposeofuse: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[a-z_]+$",
        description="Why the change was made, as its caller declared it (`X-Purpose-Of-Use`, or "
        "the role's default): treatment, operations, audit, patient_request. Absent on events "
        "of a service's own reaction and on events recorded before it existed.",
    )
    prevhash: str | None = Field(
        default=None, description="SHA-256 of the previous event of the stream."
    )
    signature: str | None = Field(default=None, description="Signature of the producing service.")
    keyid: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Id of the producing service's key that made `signature` (so keys can be "
        "rotated); absent on events signed before key ids existed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _upcast(cls, document: Any) -> Any:
        """A version 1 document (no `envelopeversion`, a `sequence`) as version 2's model."""
        if not isinstance(document, dict):
            return document
        if "envelopeversion" not in document and "sequence" in document:
            upcast = {key: value for key, value in document.items() if key != "sequence"}
            return {**upcast, "streamsequence": document["sequence"], "envelopeversion": 1}
        if "sequence" in document:
            raise ValueError(
                "sequence: an envelope of version 2 carries its position as `streamsequence`"
            )
        if document.get("envelopeversion", 2) != 2:
            raise ValueError(
                "envelopeversion: only 2 is written; version 1 records have no envelopeversion"
            )
        return document

    @model_validator(mode="wrap")
    @classmethod
    def _as_read(
        cls, document: Any, handler: ModelWrapValidatorHandler["CloudEvent"], info: ValidationInfo
    ) -> "CloudEvent":
        """A version 2 record is exactly as its model writes it. Its digest is computed over the
        record as read (RFC 8785 in any language), and Python computes it over the model, so a
        record whose attributes parse to the same values but are written otherwise (`"2"` for
        2, another zone, an upper-case id) would verify here and nowhere else: refused."""
        event = handler(document)
        if event.envelopeversion == 2 and (event.digestalg is None or event.dataschema is None):
            raise PydanticCustomError(
                "incomplete_envelope", "a version 2 envelope names its digestalg and dataschema"
            )
        if info.mode == "json" and event.envelopeversion == 2 and isinstance(document, dict):
            written = event.model_dump(mode="json", exclude_none=True)
            if written != document:
                names = sorted(
                    k for k in document.keys() | written.keys() if document.get(k) != written.get(k)
                )
                raise PydanticCustomError(
                    "not_as_published",
                    "attributes not in the form CarePath writes them: {names}",
                    {"names": ", ".join(names)[:200]},
                )
        return event

    @model_serializer(mode="wrap")
    def _as_published(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        document: dict[str, Any] = handler(self)
        if self.envelopeversion == 1:  # written out (and digested) exactly as published
            document.pop("envelopeversion", None)
            if "streamsequence" in document:
                document["sequence"] = document.pop("streamsequence")
        return document

    @field_serializer("time")
    def _utc_time(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def to_json(self) -> bytes:
        """The Kafka value: the structured-mode JSON document, absent attributes left out."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, value: bytes | str) -> "CloudEvent":
        """Parse a Kafka value; raises `pydantic.ValidationError` naming the bad attribute."""
        return cls.model_validate_json(value)

    def kafka_headers(self) -> dict[str, str]:
        """Headers for routing without parsing the value."""
        headers = {"content-type": CONTENT_TYPE, TYPE_HEADER: self.type, ID_HEADER: str(self.id)}
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        return headers

    def kafka_key(self) -> bytes:
        """The message key: the patient id, so one patient's events keep their order."""
        return self.subject.encode()
