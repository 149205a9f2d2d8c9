"""The Grafana dashboard deploy/monitoring/grafana-carepath.json: what the alerts watch, and the
traffic around it, for the services chosen at the top (variables `datasource`, `service` (the
Prometheus job, carepath-<service>) and `instance` (the pod)).

Built here, not drawn in Grafana, so that its queries use the metric names and the thresholds
of monitoring.py; tests/deploy/test_monitoring.py checks that each query parses and names only
metrics the services export.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from monitoring import CONSUMER_LAG_MAX, OUTBOX_AGE_MAX_SECONDS

UID = "carepath-overview"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
ONE = 'job=~"$service", instance=~"$instance"'  # the series of the chosen services and pods
RATE = "[$__rate_interval]"
GROUP_TOPIC = "messaging_consumer_group_name, messaging_destination_name"


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: dict[str, str]  # legend -> PromQL
    unit: str = "short"
    threshold: float | None = None  # a red line: where the alert of monitoring.py starts
    kind: str = "timeseries"
    extra: dict[str, Any] = field(default_factory=dict)


def quantiles(metric: str, by: str = "") -> dict[str, str]:
    """p50, p95 and p99 of a histogram over the chosen pods (per `by` label, if any)."""
    group = f"le, {by}" if by else "le"
    legend = f" {{{{{by}}}}}" if by else ""
    buckets = f"rate({metric}_bucket{{{ONE}}}{RATE})"
    return {
        f"p{q}{legend}": f"histogram_quantile(0.{q}, sum by ({group}) ({buckets}))"
        for q in (50, 95, 99)
    }


KAFKA_STATE = {
    "mappings": [
        {
            "type": "value",
            "options": {
                "0": {"text": "unreachable", "color": "red"},
                "1": {"text": "connected", "color": "green"},
            },
        }
    ],
}
ROWS: dict[str, list[Panel]] = {
    "Commands (staff actions)": [
        Panel(
            "Commands per second, by outcome",
            "accepted; refused (the clinic's rules); conflict (a concurrent edit); failed (error)",
            {"{{outcome}}": f"sum by (outcome) (rate(carepath_commands_total{{{ONE}}}{RATE}))"},
            unit="ops",
        ),
        Panel(
            "Command latency",
            "Time to decide and store a command",
            quantiles("carepath_command_duration_seconds"),
            unit="s",
        ),
        Panel(
            "HTTP latency p95, by route",
            "FastAPI's instrumentation",
            {
                "{{http_route}}": "histogram_quantile(0.95, sum by (le, http_route) "
                f"(rate(http_server_request_duration_seconds_bucket{{{ONE}}}{RATE})))"
            },
            unit="s",
        ),
    ],
    "Outbox and relay": [
        Panel(
            "Events appended and published per second",
            "Stored by commands (by type) and published by the relay (by topic)",
            {
                "appended {{carepath_event_type}}": "sum by (carepath_event_type) "
                f"(rate(carepath_events_appended_total{{{ONE}}}{RATE}))",
                "published {{messaging_destination_name}}": "sum by (messaging_destination_name) "
                f"(rate(messaging_client_sent_messages_total{{{ONE}}}{RATE}))",
            },
            unit="ops",
        ),
        Panel(
            "Outbox backlog and parked events",
            "Events waiting for the relay (0 when drained); parked: refused by Kafka, apart",
            {
                "waiting {{job}}": f"max by (job) (carepath_outbox_backlog{{{ONE}}})",
                "parked {{job}}": f"max by (job) (carepath_outbox_parked{{{ONE}}})",
            },
        ),
        Panel(
            "Outbox: age of the oldest waiting event",
            "0 when drained; a steady climb is a stalled relay or Kafka away",
            {"{{job}}": f"max by (job) (carepath_outbox_oldest_age_seconds{{{ONE}}})"},
            unit="s",
            threshold=OUTBOX_AGE_MAX_SECONDS,
        ),
        Panel(
            "Relay errors per second",
            "Failed tries to publish, by error class",
            {
                "{{job}} {{error_type}}": "sum by (job, error_type) "
                f"(rate(carepath_relay_errors_total{{{ONE}}}{RATE}))"
            },
            unit="ops",
        ),
    ],
    "Consumers": [
        Panel(
            "Consumer lag, by group and topic",
            "Records not applied yet, summed over partitions and replicas",
            {
                "{{messaging_consumer_group_name}} {{messaging_destination_name}}": (
                    f"sum by ({GROUP_TOPIC}) (carepath_consumer_lag{{{ONE}}})"
                )
            },
            threshold=CONSUMER_LAG_MAX,
        ),
        Panel(
            "Consumed per second, by group and topic",
            "Records applied",
            {
                "{{messaging_consumer_group_name}} {{messaging_destination_name}}": (
                    f"sum by ({GROUP_TOPIC}) "
                    f"(rate(messaging_client_consumed_messages_total{{{ONE}}}{RATE}))"
                )
            },
            unit="ops",
        ),
        Panel(
            "Dead letters since the pods started",
            # The count itself, not its increase: a counter's series appears with its first
            # dead letter, which `increase` would not show.
            "Records set aside on a dead-letter topic; each step up is a new one. Those still "
            "waiting: uv run carepath-dlq list",
            {
                "{{messaging_consumer_group_name}} {{messaging_destination_name}} {{error_type}}": (
                    f"sum by ({GROUP_TOPIC}, error_type) "
                    f"(carepath_consumer_dead_letters_total{{{ONE}}})"
                )
            },
        ),
        Panel(
            "Consumer errors per second",
            "Batches that failed and are read again, by error class",
            {
                "{{messaging_consumer_group_name}} {{error_type}}": (
                    "sum by (messaging_consumer_group_name, error_type) "
                    f"(rate(carepath_consumer_errors_total{{{ONE}}}{RATE}))"
                )
            },
            unit="ops",
        ),
        Panel(
            "Processing time per record",
            "FastStream's instrumentation, by topic",
            quantiles("messaging_process_duration_seconds", by="messaging_destination_name"),
            unit="s",
        ),
    ],
    "Kafka and pods": [
        Panel(
            "Kafka, as each pod sees it",
            "1 when Kafka answers the pod",
            {"{{job}} {{instance}}": f"min by (job, instance) (carepath_kafka_connected{{{ONE}}})"},
            kind="stat",
            extra=KAFKA_STATE,
        ),
        Panel(
            "Scraped",
            "1 when Prometheus reaches the pod's /metrics",
            {"{{job}} {{instance}}": f"up{{{ONE}}}"},
            kind="stat",
            extra={"mappings": [{"type": "value", "options": {"0": {"text": "down"}}}]},
        ),
        Panel(
            "Resident memory, by pod",
            "Against the container's memory limit",
            {"{{job}} {{instance}}": f"process_resident_memory_bytes{{{ONE}}}"},
            unit="bytes",
        ),
    ],
}


def panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    targets = [
        {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
        for i, (legend, expr) in enumerate(panel.queries.items())
    ]
    defaults: dict[str, Any] = {"unit": panel.unit, **panel.extra}
    if panel.threshold is not None:
        steps = [{"color": "green", "value": None}, {"color": "red", "value": panel.threshold}]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    if panel.kind == "stat":
        steps = [{"color": "red", "value": None}, {"color": "green", "value": 1}]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        defaults["color"] = {"mode": "thresholds"}
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": grid,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
    }


def panels() -> list[dict[str, Any]]:
    """Rows of panels, three to a line, eight high."""
    laid: list[dict[str, Any]] = []
    y = 0
    for title, row in ROWS.items():
        laid.append(
            {
                "id": len(laid) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for i, panel in enumerate(row):
            grid = {"h": 8, "w": 8, "x": 8 * (i % 3), "y": y + 8 * (i // 3)}
            laid.append(panel_json(panel, len(laid) + 1, grid))
        y += 8 * ((len(row) + 2) // 3)
    return laid


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value query variable, All by default."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": name},
        "refresh": 2,  # on a change of the time range
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    datasource = {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
    }
    return {
        "uid": UID,
        "title": "CarePath",
        "description": "Commands, outbox, consumers and Kafka of the CarePath services "
        "(deploy/README.md, Monitoring)",
        "tags": ["carepath"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {
            "list": [
                datasource,
                variable("service", "Service", "label_values(carepath_kafka_connected, job)"),
                variable(
                    "instance",
                    "Pod",
                    'label_values(carepath_kafka_connected{job=~"$service"}, instance)',
                ),
            ]
        },
        "panels": panels(),
    }


def dashboard_json() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"
