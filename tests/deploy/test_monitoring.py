"""The alert rules and the Grafana dashboard (deploy/monitoring, generated from deploy/k8s/
monitoring.py, alert_cases.py and grafana.py): promtool accepts the rules, each alert fires on the
trouble it names and stays silent on healthy series, every query names only metrics the services
export, and every alert has its runbook section."""

import ast
import json
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import DEPLOY
from opentelemetry.exporter.prometheus._mapping import map_unit, sanitize_full_name

from support import ROOT

MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "carepath-rules.yaml"
RULE_TESTS = MONITORING / "carepath-rules.test.yaml"
DASHBOARD = MONITORING / "grafana-carepath.json"


@pytest.fixture(scope="session")
def monitoring(generator: ModuleType) -> ModuleType:
    import monitoring  # deploy/k8s, on sys.path once the generator is loaded

    return monitoring


def _promtool(promtool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, check=False)


# ---------------------------------------------------------------------------- promtool
def test_promtool_accepts_the_rules(promtool: Path, monitoring: ModuleType) -> None:
    run = _promtool(promtool, "check", "rules", "--lint=all", "--lint-fatal", RULES)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(monitoring.ALERTS)} rules found" in run.stdout


def test_each_alert_fires_on_its_trouble_and_stays_silent_when_healthy(promtool: Path) -> None:
    run = _promtool(promtool, "test", "rules", RULE_TESTS)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_has_cases_that_fire_it_and_cases_that_do_not(generator: ModuleType) -> None:
    import alert_cases

    names = {alert.name for alert in alert_cases.ALERTS}
    assert {case.alert for case in alert_cases.CASES if case.fires} == names
    assert {case.alert for case in alert_cases.CASES if not case.fires} == names


@pytest.mark.parametrize("broken", ["never", "always"])
def test_the_rule_tests_fail_when_the_alerts_are_broken(
    promtool: Path, generator: ModuleType, broken: str, tmp_path: Path
) -> None:
    """Rules that never fire fail every case that expects an alert; rules that always fire fail
    every case (the silent ones too): the cases test the rules, they do not only run them."""
    import alert_cases

    rules = yaml.safe_load(RULES.read_text())
    for rule in rules["groups"][0]["rules"]:
        rule["expr"] = "vector(1) < 0" if broken == "never" else "vector(1)"
    (tmp_path / RULES.name).write_text(yaml.safe_dump(rules))
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    run = _promtool(promtool, "test", "rules", tmp_path / RULE_TESTS.name)
    assert run.returncode != 0
    failed = set(re.findall(r"^\s+name: (.+),$", run.stdout + run.stderr, re.MULTILINE))
    cases = [c for c in alert_cases.CASES if c.fires or broken == "always"]
    assert failed == {f"{case.alert}: {case.name}" for case in cases}


def test_the_plain_prometheus_example_config_is_valid_and_labels_jobs_as_the_pod_monitor(
    promtool: Path, monitoring: ModuleType
) -> None:
    example = MONITORING / "prometheus.example.yaml"
    run = _promtool(promtool, "check", "config", example)
    assert run.returncode == 0, run.stdout + run.stderr
    (job,) = yaml.safe_load(example.read_text())["scrape_configs"]
    (to_job,) = [r for r in job["relabel_configs"] if r.get("target_label") == "job"]
    (monitor_job,) = monitoring.pod_monitor()["spec"]["podMetricsEndpoints"][0]["relabelings"]
    assert to_job["source_labels"] == monitor_job["sourceLabels"]
    assert to_job["replacement"] == monitor_job["replacement"] == "carepath-$1"


# ------------------------------------------------------------------------- metric names
FUNCTIONS_AND_KEYWORDS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
)
NOT_METRICS = {"and", "or", "unless", "offset", "bool", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are no function (followed
    by `(`), keyword, label (in `{...}`, `by (...)`), duration or string."""
    expr = re.sub(r'"[^"]*"', "", expr)  # strings, Grafana's $variables in them too
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)  # matchers, ranges
    expr = FUNCTIONS_AND_KEYWORDS.sub(" ", expr)
    names = re.findall(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr)
    return {name for name in names if name.lower() not in NOT_METRICS}


def test_the_metric_name_finder_finds_what_queries_select() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, http_route) (rate(a_bucket{job=~"$service"}[5m])))'
    assert metric_names(expr) == {"a_bucket"}
    assert metric_names("x > 1000 and sum by (g) (deriv(y[10m])) >= 0 or z offset 15m") == {
        "x",
        "y",
        "z",
    }
    assert metric_names('up{job=~"carepath-.+"} == 0') == {"up"}


def _exported(monitoring: ModuleType) -> set[str]:
    """Every series name a scrape of CarePath gives: histograms as their _bucket, _sum, _count."""
    names = set(monitoring.SCRAPE_METRICS)
    for metric in monitoring.METRICS:
        suffixes = ("_bucket", "_sum", "_count") if metric.type == "histogram" else ("",)
        names |= {metric.name + suffix for suffix in suffixes}
    return names


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":  # label_values(<query>, <label>)
            queries.append(variable["definition"].removeprefix("label_values(").rsplit(",", 1)[0])
    return queries


def test_rules_and_dashboard_use_only_metrics_the_services_export(monitoring: ModuleType) -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    queries = [rule["expr"] for rule in rules] + _dashboard_queries()
    used = set().union(*(metric_names(q) for q in queries))
    assert used <= _exported(monitoring), used - _exported(monitoring)
    alerted = set().union(*(metric_names(rule["expr"]) for rule in rules))
    assert {"carepath_consumer_lag", "carepath_kafka_connected", "up"} <= alerted


def _readme_metrics() -> dict[str, str]:
    """README.md's table under "Metrics and logs": metric name -> type."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Metrics and logs", 1)[1].split("\n### ", 1)[0]
    table = {}
    for row in re.findall(r"^\| (`.+?) \| (\w+) \|", section, re.MULTILINE):
        for name in re.findall(r"`([a-z_]+)`", row[0]):
            table[name] = row[1]
    return table


def test_the_metric_list_is_the_readmes_table(monitoring: ModuleType) -> None:
    assert {m.name: m.type for m in monitoring.METRICS} == _readme_metrics()


def _chassis_instruments() -> dict[str, str]:
    """chassis/metrics.py's instruments, named as its Prometheus exporter names them."""
    source = ROOT / "services" / "chassis" / "src" / "carepath" / "chassis" / "metrics.py"
    kinds = {
        "create_counter": "counter",
        "create_histogram": "histogram",
        "create_observable_gauge": "gauge",
    }
    found = {}
    for call in ast.walk(ast.parse(source.read_text())):
        if isinstance(call, ast.Call) and getattr(call.func, "attr", None) in kinds:
            kind = kinds[call.func.attr]
            name = sanitize_full_name(ast.literal_eval(call.args[0]))
            units = [ast.literal_eval(k.value) for k in call.keywords if k.arg == "unit"]
            unit = map_unit(units[0]) if units else ""
            if unit and not name.endswith(f"_{unit}"):
                name += f"_{unit}"
            found[name + ("_total" if kind == "counter" else "")] = kind
    return found


def test_the_chassis_metrics_are_its_instruments_as_prometheus_names_them(
    monitoring: ModuleType,
) -> None:
    ours = {m.name: m.type for m in monitoring.METRICS if m.source == "chassis"}
    assert ours == _chassis_instruments()


# ----------------------------------------------------------------------------- dashboard
def test_every_dashboard_query_parses_as_promql(promtool: Path, tmp_path: Path) -> None:
    """Each query, its Grafana variables filled in, as a recording rule that promtool checks."""
    fill = {"$__rate_interval": "5m", "$service": ".*", "$instance": ".*"}
    rules = []
    for i, query in enumerate(_dashboard_queries()):
        for variable, value in fill.items():
            query = query.replace(variable, value)
        assert "$" not in query, query
        rules.append({"record": f"carepath:dashboard_query_{i}", "expr": query})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    run = _promtool(promtool, "check", "rules", path)
    assert run.returncode == 0, run.stdout + run.stderr


def _panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_the_dashboard_asks_for_a_prometheus_and_the_services_to_show() -> None:
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["service"]["definition"] == "label_values(carepath_kafka_connected, job)"
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert 'job=~"$service"' in target["expr"], (panel["title"], target["expr"])


def test_the_dashboard_shows_what_the_alerts_watch() -> None:
    used = set().union(*(metric_names(t["expr"]) for p in _panels() for t in p["targets"]))
    for metric in (
        "carepath_commands_total",
        "carepath_command_duration_seconds_bucket",
        "http_server_request_duration_seconds_bucket",
        "carepath_events_appended_total",
        "messaging_client_sent_messages_total",
        "carepath_outbox_backlog",
        "carepath_outbox_oldest_age_seconds",
        "carepath_consumer_lag",
        "messaging_client_consumed_messages_total",
        "carepath_consumer_dead_letters_total",
        "carepath_relay_errors_total",
        "carepath_consumer_errors_total",
        "carepath_kafka_connected",
        "process_resident_memory_bytes",
    ):
        assert metric in used, metric
    ids = [p["id"] for p in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------ runbook
def _slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_links_to_its_runbook_section(monitoring: ModuleType) -> None:
    readme = (DEPLOY / "README.md").read_text()
    runbook = readme.split("\n## Operator runbook\n", 1)[1].split("\n## ", 1)[0]
    anchors = {_slug(h) for h in re.findall(r"^#### (.+)$", runbook, re.MULTILINE)}
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(monitoring.RUNBOOK + "#"), url
        assert url.split("#", 1)[1] in anchors, f"no runbook section for {rule['alert']}"
        severity = rule["labels"]["severity"]
        assert severity in ("critical", "warning")
        assert f"| `{rule['alert']}` | {severity} |" in readme, "the Monitoring section's table"
