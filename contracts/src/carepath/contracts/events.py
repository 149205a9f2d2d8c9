"""Domain events, their versions, and the type registry (type string <-> model <-> topic).

Every event type is `carepath.<context>.<EventName>.v<N>`. A published type never changes
incompatibly: an additive change keeps its version; anything else is a new version, registered
beside the old one with an upcaster from the old. Readers always get the newest version:
`registry.parse` upcasts a stored older payload step by step.
"""

import types
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from carepath.contracts.envelope import CloudEvent
from carepath.contracts.privacy import PROTECTED, is_sealed, masked, stored_form
from carepath.contracts.topics import Topic, topic_for_context

TYPE_PREFIX = "carepath"

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class DomainEvent(BaseModel):
    """Base of every published event: immutable, past tense, one bounded context, versioned.

    Subclasses set `context` (which topic they go to) and, from the second version on, `version`.
    A superseded version keeps its model (named e.g. `PatientReferredV1`) and sets `event_name`.
    Unknown fields are ignored, so a consumer on an older contract reads a newer, additive event.

    Two times, as FHIR separates `effective` from `recorded`: `occurred_at` is when it happened
    clinically (the charted time), the envelope's `time` when it was recorded. An event that
    charts its own time in a named field (`administered_at`, `held_at`...) sets
    `clinical_time_field`, and `occurred_at` follows that field.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    context: ClassVar[str]
    version: ClassVar[int] = 1
    sealed: ClassVar[bool] = True
    """Its identifying and free-text fields travel encrypted (`privacy.stored_form`); False
    only on a version from before sealing, which carried them in clear."""
    event_name: ClassVar[str | None] = None
    clinical_time_field: ClassVar[str | None] = None

    occurred_at: AwareDatetime | None = Field(
        default=None,
        description="When it happened clinically: the charted time (FHIR `effective`), which "
        "may lie before the envelope's `time` (when it was recorded, FHIR `recorded`). Always "
        "set by CarePath since 2026-11; absent in events recorded before: read `time` then.",
    )

    @model_validator(mode="before")
    @classmethod
    def _occurred_at_from_the_charted_field(cls, data: Any) -> Any:
        field = cls.clinical_time_field
        if isinstance(data, dict) and data.get("occurred_at") is None and field:
            if (charted := data.get(field)) is not None:
                return {**data, "occurred_at": charted}
        return data

    def clinical_time(self, recorded_at: datetime) -> datetime:
        """When it happened clinically; `recorded_at` for an event recorded before
        `occurred_at` existed."""
        return self.occurred_at or recorded_at

    @classmethod
    def name(cls) -> str:
        """The event's name without version, e.g. `PatientReferred`."""
        return cls.event_name or cls.__name__

    @classmethod
    def event_type(cls) -> str:
        """The CloudEvents `type`, e.g. `carepath.intake.PatientReferred.v1`."""
        return f"{TYPE_PREFIX}.{cls.context}.{cls.name()}.v{cls.version}"

    @classmethod
    def topic(cls) -> Topic:
        """The topic this event is published to."""
        return topic_for_context(cls.context)


E = TypeVar("E", bound=type[DomainEvent])


class UnknownEventType(LookupError):
    """A type string that no registered event model carries."""


class EventRegistry:
    """Every event model by type string, the upcasters between versions, and parsing."""

    def __init__(self) -> None:
        self._models: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[str, Upcaster] = {}

    def register(self, model: E) -> E:
        """Class decorator: make `model` known under its type string."""
        event_type = model.event_type()
        if event_type in self._models and self._models[event_type] is not model:
            raise ValueError(f"{event_type} is registered twice")
        self._models[event_type] = model
        return model

    def upcaster(self, old: type[DomainEvent]) -> Callable[[Upcaster], Upcaster]:
        """Decorator: the function that turns a payload of `old` into one of the next version."""

        def register(function: Upcaster) -> Upcaster:
            self._upcasters[old.event_type()] = function
            return function

        return register

    def model_for(self, event_type: str) -> type[DomainEvent]:
        """The model of a type string; `UnknownEventType` when none is registered."""
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    def parse(self, event_type: str, data: dict[str, Any], *, mask: str = PROTECTED) -> DomainEvent:
        """Validate a payload as stored and sent, and upcast it to the newest version.

        The sealed fields of a sealed type are checked for form and read as `mask` (no key is
        needed, and none is used: `parse_opened` reads a payload whose fields were decrypted).
        """
        model = self.model_for(event_type)
        if is_sealed(model):
            return masked(model, stored_form(model).model_validate(data), mask)
        return self.parse_opened(event_type, data)

    def parse_opened(self, event_type: str, data: dict[str, Any]) -> DomainEvent:
        """Validate a payload with its protected fields in clear (decrypted, or from a version
        before sealing) against the model of its type, and upcast it to the newest version."""
        event = self.model_for(event_type).model_validate(data)
        while (upcast := self._upcasters.get(event.event_type())) is not None:
            newer = self.model_for(_next_version(event.event_type()))
            event = newer.model_validate(upcast(event.model_dump(mode="json")))
        return event

    def latest(self, event_type: str) -> str:
        """The newest version's type string of the event that `event_type` is a version of."""
        while event_type in self._upcasters:
            event_type = _next_version(event_type)
        return event_type

    def types(self) -> list[str]:
        """Every registered type string (all versions), sorted."""
        return sorted(self._models)

    def models(self) -> list[type[DomainEvent]]:
        """Every registered model (all versions), sorted by type string."""
        return [self._models[event_type] for event_type in self.types()]

    def check_chains(self) -> None:
        """Every superseded version has an upcaster to the next, which is registered."""
        for event_type in self._models:
            newer = _next_version(event_type)
            if newer in self._models and event_type not in self._upcasters:
                raise ValueError(f"{event_type} is superseded by {newer} but has no upcaster")
            if event_type in self._upcasters and newer not in self._models:
                raise ValueError(f"{event_type} upcasts to {newer}, which is not registered")


def _same_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


def sealed_successor(model: E, module: str) -> E:
    """Make `model` (now `version = N`) the sealed successor of its version N-1, which carried
    the same fields in clear: registers version N-1 as `<Name>V<N-1>` (defined in `module`, the
    context's `versions`) with an upcaster that keeps the payload; returns that old model."""
    old_version = model.version - 1
    namespace = {
        "__doc__": f"Version {old_version} of `{model.name()}` (superseded): the same fields, "
        f"its identifying and free-text ones in clear. Read as v{model.version}.",
        "__module__": module,
        "version": old_version,
        "event_name": model.name(),
        "sealed": False,
    }
    old = types.new_class(
        f"{model.name()}V{old_version}", (model,), exec_body=lambda ns: ns.update(namespace)
    )
    registry.register(old)
    registry.upcaster(old)(_same_payload)
    return old  # type: ignore[return-value]


def _next_version(event_type: str) -> str:
    stem, _, version = event_type.rpartition(".v")
    return f"{stem}.v{int(version) + 1}"


registry = EventRegistry()


def clinical_time(envelope: CloudEvent) -> datetime:
    """When the event in `envelope` happened clinically, as `DomainEvent.clinical_time` says: its
    `occurred_at`; for an event recorded before that field existed, its own charted field
    (`administered_at`...) or else `time` (when it was recorded). An event of a type this
    contract does not know, or not valid against it, is taken at `time`."""
    try:
        return registry.parse(envelope.type, envelope.data).clinical_time(envelope.time)
    except (UnknownEventType, ValidationError):
        return envelope.time
