"""The CloudEvents 1.0 envelope every CarePath event travels in (structured JSON mode).

Wire format (ARCHITECTURE.md, "Events on the wire"): the Kafka value is this document with
`content-type: application/cloudevents+json`; the key is the patient id; the headers repeat
the type and id (`carepath_type`, `carepath_id`) and `traceparent` so that routers need not parse
the value. No header starts with `ce_`: the CloudEvents Kafka binding reads such headers as the
attributes of a binary-mode event (the Python SDK does so even beside a structured content type),
so records written before (with `ce_type`, `ce_id`) are read with `routing_header`.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

CONTENT_TYPE = "application/cloudevents+json"


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


class CloudEvent(BaseModel):
    """One event on the wire. `data` is the payload of the event model named by `type`."""

    model_config = ConfigDict(frozen=True, extra="allow")

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
    sequence: int = Field(ge=1, description="Position in its stream, gapless from 1.")
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
