"""infra/otel/collector.yaml: every pipeline uses components it defines, and it scrapes every
service's /metrics at the port the architecture gives it."""

from typing import Any

import yaml

from support import ROOT

CONFIG = ROOT / "infra" / "otel" / "collector.yaml"
PORTS = {  # ARCHITECTURE.md, "Public interfaces": local ports
    "dashboard": 8000,
    "intake": 8001,
    "eligibility": 8002,
    "session": 8003,
    "integration": 8004,
    "audit": 8005,
}


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def test_every_pipeline_uses_defined_components_and_every_component_is_used() -> None:
    loaded = config()
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for name, pipeline in loaded["service"]["pipelines"].items():
        assert name.split("/")[0] in {"traces", "metrics", "logs"}
        for kind in used:
            used[kind] |= set(pipeline.get(kind, []))
    for kind, names in used.items():
        assert names <= set(loaded[kind]), (
            f"{kind} used but not defined: {names - set(loaded[kind])}"
        )
        assert set(loaded[kind]) <= names, f"{kind} defined but unused"
    assert {"traces", "metrics", "logs"} <= set(loaded["service"]["pipelines"])


def test_it_scrapes_every_service_and_reads_the_json_logs_with_their_trace_ids() -> None:
    loaded = config()
    jobs = {
        job["job_name"]: {t for group in job["static_configs"] for t in group["targets"]}
        for job in loaded["receivers"]["prometheus"]["config"]["scrape_configs"]
    }
    # job="carepath-<service>", as the alert rules and the dashboard group by
    assert jobs == {f"carepath-{name}": {f"127.0.0.1:{port}"} for name, port in PORTS.items()}
    operators = {op["type"]: op for op in loaded["receivers"]["filelog"]["operators"]}
    assert operators["json_parser"]["timestamp"]["parse_from"] == "attributes.time"
    assert operators["trace_parser"]["trace_id"]["parse_from"] == "attributes.trace_id"
