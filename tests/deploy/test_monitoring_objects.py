"""The monitoring objects in every rendering (conftest.RENDERINGS): the PrometheusRule is the plain
rules file, the PodMonitor and the pod annotations point at each service's /metrics, Prometheus
in another namespace gets through the NetworkPolicies to it, and the Prometheus Operator's
objects have the shape its CRDs give them. And the chart's `monitoring` values switch them."""

import json
import os
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import CHART, DEPLOY, RENDERINGS, helm_template, named, of_kind
from network_policies import admits

from support import ROOT

RULES = DEPLOY / "monitoring" / "carepath-rules.yaml"
DASHBOARD = DEPLOY / "monitoring" / "grafana-carepath.json"
MONITORING_API = "monitoring.coreos.com/v1"
# The Prometheus Operator's CRDs (monitoring.coreos.com_podmonitors.yaml, ..._prometheusrules.yaml
# of its example/prometheus-operator-crd), when at hand; the shape checks below run regardless.
OPERATOR_CRDS = Path(
    os.environ.get(
        "CAREPATH_PROMETHEUS_OPERATOR_CRDS",
        ROOT.parent / "shared" / "k8s" / "prometheus-operator-crds",
    )
)
Objects = list[dict[str, Any]]
every_rendering = pytest.mark.parametrize("rendering", RENDERINGS, ids=str)


@every_rendering
def test_the_prometheus_rule_is_the_rules_file(manifests: Objects) -> None:
    rule = named(manifests, "PrometheusRule", "carepath")
    assert rule["apiVersion"] == MONITORING_API
    assert rule["metadata"]["namespace"] == "carepath"
    assert rule["spec"] == {"groups": yaml.safe_load(RULES.read_text())["groups"]}


@every_rendering
def test_the_pod_monitor_and_the_annotations_point_at_every_services_metrics(
    manifests: Objects, generator: ModuleType
) -> None:
    monitor = named(manifests, "PodMonitor", "carepath")["spec"]
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    for service in generator.SERVICES:
        pod = named(manifests, "Deployment", f"carepath-{service.name}")["spec"]["template"]
        assert monitor["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports[endpoint["port"]] == service.port
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", service.name
        assert annotations["prometheus.io/port"] == str(service.port)
        assert annotations["prometheus.io/path"] == "/metrics"


# ----------------------------------------------------------------- the network policies
PROMETHEUS = (
    {"kubernetes.io/metadata.name": "monitoring"},
    {"app.kubernetes.io/name": "prometheus"},
)


def test_the_policy_check_refuses_what_the_policies_do_not_allow() -> None:
    deny = {"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    pod = {"app.kubernetes.io/name": "intake"}
    assert admits([], pod, 8001, PROMETHEUS)
    assert not admits([deny], pod, 8001, PROMETHEUS)

    def only_from(namespace: str, port: int) -> dict[str, Any]:
        peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
        rule = {"from": [peer], "ports": [{"protocol": "TCP", "port": port}]}
        return {"spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]}}

    assert admits([deny, only_from("monitoring", 8001)], pod, 8001, PROMETHEUS)
    assert not admits([deny, only_from("ingress-nginx", 8001)], pod, 8001, PROMETHEUS)
    assert not admits([deny, only_from("monitoring", 9999)], pod, 8001, PROMETHEUS)


@every_rendering
def test_prometheus_in_another_namespace_reaches_every_services_metrics_port(
    manifests: Objects, generator: ModuleType
) -> None:
    policies = of_kind(manifests, "NetworkPolicy")
    for service in generator.SERVICES:
        deployment = named(manifests, "Deployment", f"carepath-{service.name}")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert admits(policies, labels, service.port, PROMETHEUS), service.name


# ----------------------------------------------------------- the operator's custom resources
DURATION = re.compile(r"^(0|([0-9]+(ms|s|m|h|d|w|y))+)$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
ENDPOINT_FIELDS = {"port", "path", "interval", "scrapeTimeout", "relabelings", "scheme"}
RELABEL_FIELDS = {"sourceLabels", "targetLabel", "replacement", "regex", "action", "separator"}


def _monitoring_objects(manifests: Objects) -> Objects:
    return [obj for obj in manifests if obj["apiVersion"].startswith("monitoring.coreos.com/")]


@every_rendering
def test_every_monitoring_object_has_the_shape_the_operator_reads(manifests: Objects) -> None:
    objects = _monitoring_objects(manifests)
    assert sorted(o["kind"] for o in objects) == ["PodMonitor", "PrometheusRule"]
    for obj in objects:
        assert obj["apiVersion"] == MONITORING_API and set(obj) == {
            "apiVersion",
            "kind",
            "metadata",
            "spec",
        }
    rule_spec = named(objects, "PrometheusRule", "carepath")["spec"]
    for group in rule_spec["groups"]:
        assert set(group) == {"name", "rules"}
        for rule in group["rules"]:
            assert set(rule) <= RULE_FIELDS and isinstance(rule["expr"], str), rule
            assert DURATION.match(rule["for"]), rule["for"]
            texts = {**rule["labels"], **rule["annotations"]}
            assert all(isinstance(v, str) for v in texts.values()), rule["alert"]
    monitor = named(objects, "PodMonitor", "carepath")["spec"]
    assert set(monitor) == {"selector", "podMetricsEndpoints"}
    for endpoint in monitor["podMetricsEndpoints"]:
        assert set(endpoint) <= ENDPOINT_FIELDS and DURATION.match(endpoint["interval"])
        for relabel in endpoint["relabelings"]:
            assert set(relabel) <= RELABEL_FIELDS
            assert all(LABEL_NAME.match(label) for label in relabel["sourceLabels"])


@pytest.fixture(scope="session")
def operator_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of the Prometheus Operator's CRDs."""
    if not OPERATOR_CRDS.is_dir():
        pytest.skip(
            f"Prometheus Operator CRDs not found at {OPERATOR_CRDS} "
            "(set CAREPATH_PROMETHEUS_OPERATOR_CRDS); the shape check above still runs"
        )
    schemas = {}
    for path in sorted(OPERATOR_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api = f"{crd['spec']['group']}/{version['name']}"
            schemas[(api, crd["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


@every_rendering
def test_every_monitoring_object_matches_its_crd(
    manifests: Objects, operator_schemas: dict[tuple[str, str], dict[str, Any]]
) -> None:
    errors = []
    for obj in _monitoring_objects(manifests):
        schema = operator_schemas[(obj["apiVersion"], obj["kind"])]
        for error in jsonschema.Draft7Validator(schema).iter_errors(obj):
            errors.append(f"{obj['kind']}: {error.message} at {list(error.absolute_path)}")
    assert not errors, "\n".join(errors)


# ------------------------------------------------------------------- the chart's switches
def test_the_charts_values_turn_the_monitoring_objects_and_annotations_off(helm: Path) -> None:
    off = helm_template(
        helm,
        *("--set", "monitoring.prometheusRule.enabled=false"),
        *("--set", "monitoring.podMonitor.enabled=false"),
        *("--set", "monitoring.scrapeAnnotations=false"),
    )
    assert not _monitoring_objects(off)
    for deployment in of_kind(off, "Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert list(annotations) == ["checksum/config"], deployment["metadata"]["name"]


def test_the_operator_selects_the_rules_and_the_monitor_by_labels_from_the_values(
    helm: Path,
) -> None:
    objects = helm_template(
        helm,
        *("--set", "monitoring.prometheusRule.labels.release=kube-prometheus-stack"),
        *("--set", "monitoring.podMonitor.labels.team=clinic-platform"),
    )
    rule = named(objects, "PrometheusRule", "carepath")["metadata"]["labels"]
    monitor = named(objects, "PodMonitor", "carepath")
    assert rule["release"] == "kube-prometheus-stack" and "team" not in rule
    assert monitor["metadata"]["labels"]["team"] == "clinic-platform"
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/part-of": "carepath"}}


def test_the_grafana_dashboard_config_map_is_off_by_default_and_carries_the_dashboard(
    helm: Path, helm_rendered: dict[str, Objects]
) -> None:
    name = "carepath-grafana-dashboard"
    for objects in helm_rendered.values():
        assert name not in {c["metadata"]["name"] for c in of_kind(objects, "ConfigMap")}
    objects = helm_template(helm, "--set", "monitoring.grafanaDashboard.enabled=true")
    config_map = named(objects, "ConfigMap", name)
    kubernetes_validate.validate(config_map, "1.33.0", strict=True)
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["grafana-carepath.json"]) == json.loads(
        DASHBOARD.read_text()
    )


def test_a_misspelt_monitoring_value_is_refused_with_its_path(helm: Path) -> None:
    run = subprocess.run(
        [helm, "template", "carepath", CHART, "--set", "monitoring.podMonitor.enable=true"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "at '/monitoring/podMonitor'" in run.stderr, run.stderr
