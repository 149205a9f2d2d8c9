"""Rendering the Kubernetes overlays with the real kustomize (installed by `make deploy-tools`)."""

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from support import ROOT

DEPLOY = ROOT / "deploy"
KUSTOMIZE = DEPLOY / ".bin" / "kustomize"
OVERLAYS = ("dev", "production")


def load_generator() -> ModuleType:
    """deploy/k8s/generate.py as a module: the service table and the generated files."""
    spec = importlib.util.spec_from_file_location(
        "carepath_deploy_generate", DEPLOY / "k8s" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """The pinned kustomize; installed through `make deploy-tools` when missing and Go is there."""
    if not KUSTOMIZE.exists():
        if shutil.which("go") is None or shutil.which("make") is None:
            pytest.skip("kustomize is not installed and Go is missing: run `make deploy-tools`")
        subprocess.run(["make", "-s", "deploy-tools"], cwd=ROOT, check=True)
    return KUSTOMIZE


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


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]
