"""Domain events and the type registry (type string <-> model <-> topic)."""

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from carepath.contracts.topics import Topic, topic_for_context

TYPE_PREFIX = "carepath"


class DomainEvent(BaseModel):
    """Base of every published event: immutable, past-tense, one bounded context, versioned.

    Subclasses set `context` (which topic they go to) and `version` (the `.vN` of their type).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    context: ClassVar[str]
    version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        """The CloudEvents `type`, e.g. `carepath.intake.PatientReferred.v1`."""
        return f"{TYPE_PREFIX}.{cls.context}.{cls.__name__}.v{cls.version}"

    @classmethod
    def topic(cls) -> Topic:
        """The topic this event is published to."""
        return topic_for_context(cls.context)


E = TypeVar("E", bound=type[DomainEvent])


class UnknownEventType(LookupError):
    """A type string that no registered event model carries."""


class EventRegistry:
    """Maps CloudEvents type strings to event models, and turns stored payloads into models."""

    def __init__(self) -> None:
        self._models: dict[str, type[DomainEvent]] = {}

    def register(self, model: E) -> E:
        """Class decorator: make `model` known under its type string."""
        event_type = model.event_type()
        if event_type in self._models and self._models[event_type] is not model:
            raise ValueError(f"{event_type} is registered twice")
        self._models[event_type] = model
        return model

    def model_for(self, event_type: str) -> type[DomainEvent]:
        """The model of a type string; `UnknownEventType` when none is registered."""
        try:
            return self._models[event_type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {event_type!r}") from None

    def parse(self, event_type: str, data: dict[str, Any]) -> DomainEvent:
        """Validate a payload against the model of its type."""
        return self.model_for(event_type).model_validate(data)

    def types(self) -> list[str]:
        """Every registered type string, sorted."""
        return sorted(self._models)


registry = EventRegistry()
