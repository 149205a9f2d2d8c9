"""Rendering the manifests with the real kustomize and helm (installed by `make deploy-tools`, with
promtool): the Kustomize overlays, and the Helm chart with its default values and the example
values files.
"""

import importlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest
import yaml

from support import ROOT

DEPLOY = ROOT / "deploy"
KUSTOMIZE = DEPLOY / ".bin" / "kustomize"
HELM = DEPLOY / ".bin" / "helm"
PROMTOOL = DEPLOY / ".bin" / "promtool"
CHART = DEPLOY / "helm" / "carepath"
OVERLAYS = ("dev", "production")
HELM_VALUES = ("default", "dev", "production")  # default: the chart's values.yaml alone
NAMESPACE = "carepath"
STRIMZI_CRDS = Path(
    os.environ.get("CAREPATH_STRIMZI_CRDS", ROOT.parent / "shared" / "k8s" / "strimzi-1.2.0-crds")
)


def load_generator() -> ModuleType:
    """deploy/k8s/generate.py as a module: the service table and the generated files. Imported
    as `generate`, the name its chart writer (deploy/k8s/helm_chart.py) imports it by."""
    k8s = str(DEPLOY / "k8s")
    if k8s not in sys.path:
        sys.path.insert(0, k8s)
    return importlib.import_module("generate")


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return load_generator()


def deploy_tool(path: Path) -> Path:
    """A tool of deploy/.bin; installed through `make deploy-tools` when missing and Go is there.
    Missing for good: a skip on a developer's machine, a failure in CI (CI=true)."""
    if not path.exists() and shutil.which("go") and shutil.which("make"):
        subprocess.run(["make", "-s", "deploy-tools"], cwd=ROOT, check=True)
    if not path.exists():
        why = f"{path.name} is not installed and Go is missing: run `make deploy-tools`"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{why} (CI must run the deploy tests, not skip them)")
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """The pinned kustomize."""
    return deploy_tool(KUSTOMIZE)


@pytest.fixture(scope="session")
def helm() -> Path:
    """The pinned helm."""
    return deploy_tool(HELM)


@pytest.fixture(scope="session")
def promtool() -> Path:
    """The pinned promtool (Prometheus's): checks and unit-tests the alert rules."""
    return deploy_tool(PROMTOOL)


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    """Every overlay, built: overlay name -> its objects."""
    objects = {}
    for overlay in OVERLAYS:
        built = subprocess.run(
            [kustomize, "build", DEPLOY / "k8s" / "overlays" / overlay],
            check=True,
            capture_output=True,
            text=True,
        )
        objects[overlay] = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    return objects


@pytest.fixture(scope="session")
def kustomize_base(kustomize: Path) -> list[dict[str, Any]]:
    """The Kustomize base alone, built: what the chart renders with the base's settings."""
    built = subprocess.run(
        [kustomize, "build", DEPLOY / "k8s" / "base"], check=True, capture_output=True, text=True
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.fixture(scope="session")
def strimzi_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of the Strimzi CRDs."""
    if not STRIMZI_CRDS.is_dir():
        pytest.skip(f"Strimzi CRDs not found at {STRIMZI_CRDS} (set CAREPATH_STRIMZI_CRDS)")
    schemas = {}
    for path in sorted(STRIMZI_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api = f"{crd['spec']['group']}/{version['name']}"
            schemas[(api, crd["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


def helm_template(helm: Path, *args: str) -> list[dict[str, Any]]:
    """The chart rendered as `helm install carepath ... -n carepath` would apply it."""
    built = subprocess.run(
        [helm, "template", "carepath", CHART, "--namespace", NAMESPACE, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def values_file(name: str) -> Path:
    """An example values file of deploy/helm: values-dev.yaml, values-production.yaml."""
    return DEPLOY / "helm" / f"values-{name}.yaml"


@pytest.fixture(scope="session")
def helm_rendered(helm: Path) -> dict[str, list[dict[str, Any]]]:
    """The chart with each example values file: values name -> its objects."""
    return {
        name: helm_template(helm, *(() if name == "default" else ("-f", str(values_file(name)))))
        for name in HELM_VALUES
    }


@dataclass(frozen=True)
class Rendering:
    """One rendering of the manifests: the same checks run on each (tests/deploy/test_manifests.py)."""

    tool: Literal["kustomize", "helm"]
    variant: str  # an overlay of deploy/k8s/overlays, or a name of HELM_VALUES
    dev: bool  # one replica, a one-node Kafka, placeholder Secrets in dev mode
    extra_egress_ports: frozenset[int] = frozenset()  # opened by its values (the provider)

    def __str__(self) -> str:
        return f"{self.tool}-{self.variant}"


RENDERINGS = (
    Rendering("kustomize", "dev", dev=True),
    Rendering("kustomize", "production", dev=False),
    Rendering("helm", "default", dev=False),
    Rendering("helm", "dev", dev=True),
    Rendering("helm", "production", dev=False, extra_egress_ports=frozenset({443})),
)
DEV = tuple(r for r in RENDERINGS if r.dev)
PRODUCTION = tuple(r for r in RENDERINGS if not r.dev)


@pytest.fixture
def manifests(request: pytest.FixtureRequest, rendering: Rendering) -> list[dict[str, Any]]:
    """The objects of the test's `rendering` (parametrized): only its own tool is needed."""
    fixture = "rendered" if rendering.tool == "kustomize" else "helm_rendered"
    by_variant: dict[str, list[dict[str, Any]]] = request.getfixturevalue(fixture)
    return by_variant[rendering.variant]


def is_migration_only(obj: dict[str, Any]) -> bool:
    """An object only the chart's migration Jobs use: the Jobs, the copies of the ConfigMaps they
    read, their NetworkPolicy (deploy/k8s/helm_migrations.py)."""
    labels = obj["metadata"].get("labels", {})
    return bool(labels.get("app.kubernetes.io/component") == "migration")


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]
