"""What Prometheus scrapes from CarePath and when it alerts: the metric names the services export,
the alert rules, and the objects that load them (a PrometheusRule and a PodMonitor for the
Prometheus Operator; a plain rules file for promtool and any other Prometheus).

The rules are defined here once; generate.py writes them into the Kustomize base, the Helm chart
(helm_monitoring.py) and deploy/monitoring/carepath-rules.yaml. Their unit tests (promtool test
rules) are in alert_cases.py, the Grafana dashboard in grafana.py. An alert's labels are the
series' own (namespace, job, instance, consumer group, topic) and its severity: the metrics hold no
patient data, so no alert can carry any.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from generate import METRICS_PATH, PART_OF

# ----------------------------------------------------------------------------- what is exported
MetricType = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Metric:
    name: str  # as Prometheus sees it
    type: MetricType
    source: Literal["chassis", "instrumentation", "process"]


# README.md, "Metrics and logs"; `chassis` ones are chassis/metrics.py's instruments (a test
# converts those names as the OpenTelemetry Prometheus exporter does).
METRICS = (
    Metric("carepath_commands_total", "counter", "chassis"),
    Metric("carepath_command_duration_seconds", "histogram", "chassis"),
    Metric("carepath_events_appended_total", "counter", "chassis"),
    Metric("messaging_client_sent_messages_total", "counter", "chassis"),
    Metric("carepath_outbox_backlog", "gauge", "chassis"),
    Metric("carepath_outbox_oldest_age_seconds", "gauge", "chassis"),
    Metric("carepath_outbox_parked", "gauge", "chassis"),
    Metric("carepath_relay_errors_total", "counter", "chassis"),
    Metric("messaging_client_consumed_messages_total", "counter", "chassis"),
    Metric("carepath_consumer_lag", "gauge", "chassis"),
    Metric("carepath_consumer_dead_letters_total", "counter", "chassis"),
    Metric("carepath_consumer_errors_total", "counter", "chassis"),
    Metric("carepath_kafka_connected", "gauge", "chassis"),
    Metric("http_server_request_duration_seconds", "histogram", "instrumentation"),  # FastAPI
    Metric("messaging_process_duration_seconds", "histogram", "instrumentation"),  # FastStream
    Metric("process_resident_memory_bytes", "gauge", "process"),  # prometheus-client
)
SCRAPE_METRICS = ("up",)  # Prometheus's own, one per target

# ------------------------------------------------------------------------------------ scraping
# Every CarePath target's job is carepath-<service> (the pod label app.kubernetes.io/name): the
# PodMonitor relabels it so, and deploy/monitoring/prometheus.example.yaml does the same.
JOB_PREFIX = "carepath-"
CAREPATH_TARGETS = f'job=~"{JOB_PREFIX}.+"'
SCRAPE_INTERVAL = "30s"  # each scrape also gathers the outbox and lag figures (database, Kafka)


def pod_monitor() -> dict[str, Any]:
    """Scrape every CarePath pod's `/metrics` on its `http` port (no token needed)."""
    labels = {"app.kubernetes.io/part-of": PART_OF}
    job = {
        "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
        "targetLabel": "job",
        "replacement": f"{JOB_PREFIX}$1",
    }
    endpoint = {
        "port": "http",
        "path": METRICS_PATH,
        "interval": SCRAPE_INTERVAL,
        "relabelings": [job],
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "carepath", "labels": dict(labels)},
        "spec": {"selector": {"matchLabels": dict(labels)}, "podMetricsEndpoints": [endpoint]},
    }


# -------------------------------------------------------------------------------- thresholds
# A clinic's busiest hour stores a few hundred events; a consumer 1000 records behind that is not
# catching up has stopped keeping pace (the dashboard and the downstream steps fall behind).
CONSUMER_LAG_MAX = 1000
# The relay publishes within a second when Kafka answers: five minutes of waiting means no staff
# action of that time has reached the other services (the relay is stuck, or Kafka is away).
OUTBOX_AGE_MAX_SECONDS = 300
# A failed command is a server error the staff see (refused and conflict are the clinic's rules
# and concurrent edits, not faults); one in twenty is more than a passing database hiccup.
COMMAND_FAILURE_RATIO = 0.05
# A dead letter counts while it is this recent: long enough for a page to be seen.
DEAD_LETTER_WINDOW = "15m"
# Errors the relay and consumers retry through (a broker restart, a rebalance) stop within
# minutes; errors every five minutes for this long are an outage that does not heal.
SUSTAINED_ERRORS_FOR = "15m"

# ---------------------------------------------------------------------------------- the rules
# Where each alert's runbook_url points: deploy/README.md, "Operator runbook", one heading per
# alert. Change it to where your copy of the repository is served.
RUNBOOK = "https://github.com/carepath/carepath/blob/main/deploy/README.md"
Severity = Literal["critical", "warning"]  # critical: pages someone; warning: working hours


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str  # `{{ $labels.x }}` only: alert_cases.py renders them for promtool's tests
    description: str

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOK}#{self.name.lower()}"  # the heading's anchor

    def rule(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": self.runbook_url,
            },
        }


GROUP = "messaging_consumer_group_name"
TOPIC = "messaging_destination_name"
# How the annotations name what an alert is about (Prometheus fills in the alert's labels).
THE_GROUP = f"{{{{ $labels.{GROUP} }}}}"
THE_TOPIC = f"{{{{ $labels.{TOPIC} }}}}"
THE_SERVICE = "{{ $labels.job }} in {{ $labels.namespace }}"
THE_POD = "{{ $labels.instance }} of {{ $labels.job }}"
ALERTS = (
    Alert(
        "CarePathConsumerLagHigh",
        f"sum by (namespace, {GROUP}) (carepath_consumer_lag) > {CONSUMER_LAG_MAX}\n"
        f"and sum by (namespace, {GROUP}) (deriv(carepath_consumer_lag[10m])) >= 0",
        "10m",
        "warning",
        f"Consumer group {THE_GROUP} is behind and not catching up",
        f"More than {CONSUMER_LAG_MAX} records wait for consumer group {THE_GROUP} (all its "
        "topics, partitions and replicas) and the number has not gone down for 10 minutes: the "
        "steps and views it feeds are out of date.",
    ),
    Alert(
        "CarePathDeadLetters",
        # A counter's series appears with its first dead letter (at 1), and `increase` sees no
        # rise in it: so a series younger than the window counts with its whole value too.
        f"sum by (namespace, {GROUP}, {TOPIC}) (\n"
        f"  increase(carepath_consumer_dead_letters_total[{DEAD_LETTER_WINDOW}])\n"
        ") > 0\n"
        f"or sum by (namespace, {GROUP}, {TOPIC}) (\n"
        "  carepath_consumer_dead_letters_total\n"
        f"  unless carepath_consumer_dead_letters_total offset {DEAD_LETTER_WINDOW}\n"
        ") > 0",
        "0m",
        "warning",
        f"Consumer group {THE_GROUP} set records of {THE_TOPIC} aside",
        f"Consumer group {THE_GROUP} put records of {THE_TOPIC} on its dead-letter topic in the "
        f"last {DEAD_LETTER_WINDOW}: those patients' events are not applied there until they are "
        "replayed.",
    ),
    Alert(
        "CarePathOutboxStalled",
        f"max by (namespace, job) (carepath_outbox_oldest_age_seconds) > {OUTBOX_AGE_MAX_SECONDS}",
        "2m",
        "critical",
        f"{THE_SERVICE} has not published its events for minutes",
        f"The oldest event waiting for the relay of {THE_SERVICE} is more than "
        f"{OUTBOX_AGE_MAX_SECONDS // 60} minutes old: commands are stored, but no other service "
        "sees them (the relay is stuck, or Kafka is away). Parked events do not count here "
        "(CarePathOutboxParked).",
    ),
    Alert(
        "CarePathOutboxParked",
        "max by (namespace, job) (carepath_outbox_parked) > 0",
        "1m",
        "warning",
        f"{THE_SERVICE} holds events that Kafka refuses",
        f"The relay of {THE_SERVICE} parked events that Kafka refuses for good (too large, not "
        "authorized): they reach no consumer and no audit trail until resolved.",
    ),
    Alert(
        "CarePathRelayErrors",
        "sum by (namespace, job) (rate(carepath_relay_errors_total[5m])) > 0",
        SUSTAINED_ERRORS_FOR,
        "warning",
        f"The relay of {THE_SERVICE} keeps failing to publish",
        f"The outbox relay of {THE_SERVICE} has failed to publish in every 5 minutes for "
        f"{SUSTAINED_ERRORS_FOR}; its events wait in the outbox.",
    ),
    Alert(
        "CarePathConsumerErrors",
        f"sum by (namespace, job, {GROUP}) (rate(carepath_consumer_errors_total[5m])) > 0",
        SUSTAINED_ERRORS_FOR,
        "warning",
        f"Consumer group {THE_GROUP} keeps failing",
        f"Batches of consumer group {THE_GROUP} ({THE_SERVICE}) have failed in every 5 minutes "
        f"for {SUSTAINED_ERRORS_FOR}; they are read again, and nothing new is applied.",
    ),
    Alert(
        "CarePathKafkaUnreachable",
        "carepath_kafka_connected == 0",
        "2m",
        "critical",
        f"{THE_POD} cannot reach Kafka",
        f"{THE_POD} in {{{{ $labels.namespace }}}} has not reached Kafka for 2 minutes: it takes "
        "commands (they wait in the outbox) but publishes and consumes nothing.",
    ),
    Alert(
        "CarePathTargetDown",
        f"up{{{CAREPATH_TARGETS}}} == 0",
        "5m",
        "warning",
        f"Prometheus cannot scrape {THE_POD}",
        f"{THE_POD} in {{{{ $labels.namespace }}}} has not answered /metrics for 5 minutes: the "
        "pod is down, hung, or out of Prometheus's reach.",
    ),
    Alert(
        "CarePathServiceDown",
        f"sum by (namespace, job) (up{{{CAREPATH_TARGETS}}}) == 0",
        "2m",
        "critical",
        f"No pod of {THE_SERVICE} answers",
        f"Every pod of {THE_SERVICE} has failed its scrape for 2 minutes: the service is down "
        "for the staff and for the services that depend on it.",
    ),
    Alert(
        "CarePathCommandsFailing",
        'sum by (namespace, job) (rate(carepath_commands_total{outcome="failed"}[10m]))\n'
        f"/ sum by (namespace, job) (rate(carepath_commands_total[10m])) > {COMMAND_FAILURE_RATIO}",
        "10m",
        "warning",
        f"Commands fail at {THE_SERVICE}",
        f"More than {COMMAND_FAILURE_RATIO:.0%} of the staff's commands at {THE_SERVICE} have "
        "failed (server errors, not refusals) for 10 minutes.",
    ),
)


def rule_groups() -> list[dict[str, Any]]:
    """The rule groups: a Prometheus rules file's `groups`, a PrometheusRule's `spec.groups`."""
    return [{"name": "carepath", "rules": [alert.rule() for alert in ALERTS]}]


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "carepath", "labels": {"app.kubernetes.io/part-of": PART_OF}},
        "spec": {"groups": rule_groups()},
    }


LABEL_TEMPLATE = re.compile(r"\{\{ \$labels\.(\w+) \}\}")


def render(template: str, labels: dict[str, str]) -> str:
    """An annotation as Prometheus fills it in for an alert with these labels."""
    return LABEL_TEMPLATE.sub(lambda found: labels.get(found[1], ""), template)


class _Readable(yaml.SafeDumper):
    """Writes a multi-line string (a PromQL expression) as a literal block, as it was written,
    and a dict two fields share (the PodMonitor's labels) twice, not as `&id001`."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Readable.add_representer(str, _literal)


HEADER = "# GENERATED by deploy/k8s/generate.py (monitoring.py); edit that, not this file.\n"


def dump_yaml(*documents: Any, header: str = HEADER) -> str:
    body = "---\n".join(
        yaml.dump(d, Dumper=_Readable, sort_keys=False, default_flow_style=False, width=1000)
        for d in documents
    )
    return header + body


def rules_file() -> str:
    """deploy/monitoring/carepath-rules.yaml: for promtool and a Prometheus without the operator."""
    return dump_yaml({"groups": rule_groups()})
