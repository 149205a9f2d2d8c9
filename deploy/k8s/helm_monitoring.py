"""The chart's monitoring: templates/monitoring.yaml (the PrometheusRule, the PodMonitor and the
Grafana dashboard's ConfigMap, each switched by the values under `monitoring`) and the files it
reads with `.Files.Get`: copies of deploy/monitoring/carepath-rules.yaml and
grafana-carepath.json.

The rules and the dashboard are read from files rather than written into the template because
both hold `{{ ... }}` of their own (Prometheus's annotation templates, Grafana's legends), which
Helm would take for its own; and so the PrometheusRule is the rules file, group for group.
"""

from pathlib import Path
from typing import Any

from generate import PART_OF
from grafana import dashboard_json
from helm_chart import CHART, TEMPLATES, Document, config_map, template_file
from helm_fills import Fills
from monitoring import pod_monitor, prometheus_rule, rules_file

RULES = "monitoring/carepath-rules.yaml"  # inside the chart, for .Files.Get
DASHBOARD = "monitoring/grafana-carepath.json"
VALUES = ".Values.monitoring"


def with_labels_from_values(obj: dict[str, Any], values: str, fills: Fills) -> dict[str, Any]:
    """The object with the labels `values`.labels beside its own (what an operator selects on)."""
    obj["metadata"]["labels"][fills.splice(f"{values}.labels")] = None
    return obj


def monitoring_file() -> str:
    fills = Fills()
    rule = with_labels_from_values(prometheus_rule(), f"{VALUES}.prometheusRule", fills)
    rule["spec"] = fills.block(f'(.Files.Get "{RULES}" | fromYaml)')
    monitor = with_labels_from_values(pod_monitor(), f"{VALUES}.podMonitor", fills)
    labels = {"app.kubernetes.io/part-of": PART_OF}
    data = {"grafana-carepath.json": fills.value(f'.Files.Get "{DASHBOARD}" | toJson')}
    dashboard = with_labels_from_values(
        config_map("carepath-grafana-dashboard", labels, data),
        f"{VALUES}.grafanaDashboard",
        fills,
    )
    documents = [
        Document(rule, when=f"{VALUES}.prometheusRule.enabled"),
        Document(monitor, when=f"{VALUES}.podMonitor.enabled"),
        Document(dashboard, when=f"{VALUES}.grafanaDashboard.enabled"),
    ]
    return template_file(fills, documents).replace("(helm_chart.py)", "(helm_monitoring.py)", 1)


def chart_monitoring_files() -> dict[Path, str]:
    return {
        CHART / RULES: rules_file(),
        CHART / DASHBOARD: dashboard_json(),
        TEMPLATES / "monitoring.yaml": monitoring_file(),
    }
