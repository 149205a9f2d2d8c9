"""Metrics an operator can alert on, exported for Prometheus at `/metrics` by the OpenTelemetry
SDK (one MeterProvider per process; FastStream's and the FastAPI instrumentation's metrics land
on it too).

Names follow the OpenTelemetry semantic conventions where they define one
(`messaging.client.sent.messages`, `messaging.client.consumed.messages`,
`http.server.request.duration`); CarePath's own are under `carepath.`. Prometheus sees them with
dots as underscores, the unit as a suffix and `_total` on counters
(`carepath_commands_total`, `carepath_outbox_oldest_age_seconds`). No attribute ever holds
patient data: commands, event types, topics, partitions, consumer groups and error classes only.

Figures that need I/O (the outbox backlog, consumer lag, Kafka's state) are gathered by the
runtime when `/metrics` is scraped, each within a deadline (`ServiceRuntime.gather_figures`), so
a scrape answers while the database or Kafka does not: the outbox's figures and Kafka's state
keep their last value, and a consumer whose lag does not come in time reports none (not the
partitions it held before, which a rebalance may have given to another replica).
"""

import os
from dataclasses import dataclass, field

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "Gauges", "exposition", "gauges", "meter", "setup_metrics"]

KAFKA = "kafka"
# The HTTP semantic conventions' buckets for durations in seconds.
SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]


def setup_metrics(service_name: str) -> MeterProvider:
    """Install the SDK meter provider for this process (once), read by `/metrics`."""
    # The instrumentations' stable HTTP conventions (`http.server.request.duration` in seconds),
    # not the older `http.server.duration` in milliseconds; an operator's own choice stands.
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    current = metrics.get_meter_provider()
    if isinstance(current, MeterProvider):
        return current
    # Durations in seconds: the SDK's default buckets (0, 5, 10, 25 ... 10000) are for
    # milliseconds, so FastStream's histograms get the same seconds buckets as ours.
    seconds = ExplicitBucketHistogramAggregation(SECONDS_BUCKETS)
    provider = MeterProvider(
        resource=Resource.create({"service.name": f"carepath-{service_name}"}),
        metric_readers=[PrometheusMetricReader()],
        views=[View(instrument_name="messaging.*.duration", aggregation=seconds)],
    )
    metrics.set_meter_provider(provider)
    return provider


def exposition() -> bytes:
    """The Prometheus text exposition of every metric of this process."""
    return generate_latest(REGISTRY)


meter = metrics.get_meter("carepath")

commands = meter.create_counter(
    "carepath.commands", unit="{command}", description="Staff commands, by command and outcome."
)
command_duration = meter.create_histogram(
    "carepath.command.duration",
    unit="s",
    description="Time to decide and store a staff command, by command and outcome.",
    explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
)
events_appended = meter.create_counter(
    "carepath.events.appended", unit="{event}", description="Events stored, by event type."
)
sent_messages = meter.create_counter(
    "messaging.client.sent.messages",
    unit="{message}",
    description="Events the outbox relay published (acknowledged by Kafka), by topic.",
)
consumed_messages = meter.create_counter(
    "messaging.client.consumed.messages",
    unit="{message}",
    description="Records a consumer applied, by topic and consumer group.",
)
dead_letters = meter.create_counter(
    "carepath.consumer.dead_letters",
    unit="{message}",
    description="Records a consumer set aside on its dead-letter topic, by topic and error class.",
)
consumer_errors = meter.create_counter(
    "carepath.consumer.errors",
    unit="{error}",
    description="Failed tries to apply a batch (retried or dead-lettered), by error class.",
)
relay_errors = meter.create_counter(
    "carepath.relay.errors",
    unit="{error}",
    description="Failed tries to publish (Kafka away, a record refused), by error class.",
)


@dataclass
class Gauges:
    """The latest figures gathered by the runtime; the observable gauges read them at each
    scrape. Lag is per (topic, partition, consumer group). One per process (`gauges`)."""

    outbox_backlog: int | None = None
    outbox_oldest_age_s: float | None = None
    outbox_parked: int | None = None
    kafka_connected: bool | None = None
    consumer_lag: dict[tuple[str, int, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def one(value: float | None) -> list[Observation]:
            return [] if value is None else [Observation(value)]

        meter.create_observable_gauge(
            "carepath.outbox.backlog",
            [lambda _: one(self.outbox_backlog)],
            unit="{event}",
            description="Stored events waiting for the relay (0 when drained); parked events "
            "and their streams' later events are not counted (see carepath.outbox.parked).",
        )
        meter.create_observable_gauge(
            "carepath.outbox.oldest.age",
            [lambda _: one(self.outbox_oldest_age_s)],
            unit="s",
            description="Age of the oldest event waiting for the relay (0 when drained; "
            "parked events not counted).",
        )
        meter.create_observable_gauge(
            "carepath.outbox.parked",
            [lambda _: one(self.outbox_parked)],
            unit="{event}",
            description="Events the relay set aside because Kafka refuses them for good.",
        )
        meter.create_observable_gauge(
            "carepath.kafka.connected",
            [lambda _: one(None if self.kafka_connected is None else int(self.kafka_connected))],
            unit="1",
            description="1 when Kafka answers this service, 0 when it does not.",
        )
        meter.create_observable_gauge(
            "carepath.consumer.lag",
            [self._lag],
            unit="{message}",
            description="Records on a partition this service's consumer has not applied yet.",
        )

    def _lag(self, _options: CallbackOptions) -> list[Observation]:
        return [
            Observation(
                lag,
                {
                    "messaging.system": KAFKA,
                    "messaging.destination.name": topic,
                    "messaging.destination.partition.id": str(partition),
                    "messaging.consumer.group.name": group,
                },
            )
            for (topic, partition, group), lag in sorted(self.consumer_lag.items())
        ]


gauges = Gauges()
