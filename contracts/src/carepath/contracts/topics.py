"""The topic registry: the one place that names CarePath's Kafka topics."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A Kafka topic that holds one bounded context's events, keyed by patient id."""

    name: str
    context: str
    description: str
    key: str = "patient id (pseudonymous UUID)"
    retention_ms: int = -1  # the log is the audit record: events are kept forever

    def config(self) -> dict[str, str]:
        """Topic-level configuration to create the topic with."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}


INTAKE_EVENTS = Topic(
    "carepath.intake.events", "intake", "Referral, intake form, assessments, consent."
)
ELIGIBILITY_EVENTS = Topic(
    "carepath.eligibility.events", "eligibility", "Screening results and clinician reviews."
)
SESSION_EVENTS = Topic(
    "carepath.session.events", "session", "Courses, preparation and dosing sessions, discharge."
)
INTEGRATION_EVENTS = Topic(
    "carepath.integration.events", "integration", "Integration sessions, outcomes, completion."
)
ACCESS_EVENTS = Topic(
    "carepath.access.events", "access", "Record-access (read) events for the audit trail."
)

ALL_TOPICS: tuple[Topic, ...] = (
    INTAKE_EVENTS,
    ELIGIBILITY_EVENTS,
    SESSION_EVENTS,
    INTEGRATION_EVENTS,
    ACCESS_EVENTS,
)
_BY_CONTEXT = {topic.context: topic for topic in ALL_TOPICS}

SUBSCRIPTIONS: dict[str, tuple[Topic, ...]] = {
    "eligibility": (INTAKE_EVENTS,),
    "session": (ELIGIBILITY_EVENTS, INTAKE_EVENTS, INTEGRATION_EVENTS),
    "integration": (INTAKE_EVENTS, SESSION_EVENTS),
    "dashboard": (
        INTAKE_EVENTS,
        ELIGIBILITY_EVENTS,
        SESSION_EVENTS,
        INTEGRATION_EVENTS,
        ACCESS_EVENTS,
    ),
    "audit": ALL_TOPICS,
}
"""Which topics each CarePath consumer reads (its consumer group is `carepath.<consumer>`)."""

VERSIONED_READ_MODELS = frozenset({"dashboard"})
"""Consumers whose read models carry a version: version N > 1 builds beside the running one, in
a consumer group of its own, `carepath.<consumer>.v<N>` (the dashboard's `versions`)."""


def topic_for_context(context: str) -> Topic:
    """The topic that holds the events of a bounded context (`intake`, `session`, ...)."""
    try:
        return _BY_CONTEXT[context]
    except KeyError:
        known = ", ".join(sorted(_BY_CONTEXT))
        raise KeyError(f"no topic for context {context!r}; known contexts: {known}") from None


def topic_named(name: str) -> Topic:
    """Look a topic up by its name."""
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(f"{name!r} is not a CarePath topic")


def dlq_topic(topic: Topic, consumer: str) -> Topic:
    """The dead-letter topic of one consumer of `topic`: `<topic>.dlq.<consumer>`."""
    return Topic(
        f"{topic.name}.dlq.{consumer}",
        topic.context,
        f"Messages of {topic.name} that {consumer} could not process, with the error in headers.",
    )


def dead_letter_topics() -> tuple[Topic, ...]:
    """The dead-letter topic of every CarePath consumer and topic it reads."""
    return tuple(
        dlq_topic(topic, consumer) for consumer, topics in SUBSCRIPTIONS.items() for topic in topics
    )
