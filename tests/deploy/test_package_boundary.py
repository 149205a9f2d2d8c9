"""Each image holds one service: `uv sync --no-dev --package carepath-<service>` (as the
Dockerfiles run it) must give a venv that runs that service, migrates its database and contains
no other service."""

import os
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from conftest import load_generator

from support import ROOT, uv

SERVICES = load_generator().SERVICES
WORKSPACE = ["carepath-contracts", "carepath-chassis", *(f"carepath-{s.name}" for s in SERVICES)]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_a_services_own_install_builds_its_app_and_nothing_else(
    service: ModuleType, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    # uv keys its cache of a built local package by its pyproject.toml, not its sources: refresh
    # the workspace's own packages, or a wheel built before the last change would be tested.
    refresh = [arg for member in WORKSPACE for arg in ("--refresh-package", member)]
    subprocess.run(
        [
            uv(),
            "sync",
            "--frozen",
            "--no-dev",
            "--no-editable",
            "--quiet",
            *refresh,
            "--package",
            f"carepath-{service.name}",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    assert (venv / "bin" / service.script).exists(), f"no console script {service.script}"
    # create_app reads the packaged clinic policy and static files, so a file missing from the
    # wheel fails here rather than in the pod.
    build = (
        f"from carepath.{service.name}.app import create_app\n"
        "app = create_app()\n"
        "print('built', app.title)\n"
    )
    state = {
        "CAREPATH_VAR_DIR": str(tmp_path / "state"),
        "CAREPATH_KEYS_DIR": str(tmp_path / "state" / "keys"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "CAREPATH_DEV_MODE": "true",  # a dev key, as a local run makes
        "PATH": os.environ["PATH"],
    }
    run = subprocess.run(
        [venv / "bin" / "python", "-c", build],
        cwd=tmp_path,
        env=state,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # The migration runs in this image too (initContainer, Job): the revisions and the shared
    # Alembic environment must be in the wheels, not only in the source tree.
    migrate = subprocess.run(
        [venv / "bin" / "carepath-migrate", service.name],
        cwd=tmp_path,
        env={**state, "DATABASE_URL": f"sqlite:///{tmp_path / 'migrated.db'}"},
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr[-3000:]
    assert "migrated from no revision to" in migrate.stdout, migrate.stdout
    others = [s.name for s in SERVICES if s.name != service.name]
    probe = (
        "import importlib.util, sys\n"
        f"found = [n for n in {others!r} if importlib.util.find_spec('carepath.' + n)]\n"
        "print(','.join(found))\n"
    )
    run = subprocess.run(
        [venv / "bin" / "python", "-c", probe],
        cwd=tmp_path,
        env=state,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "", f"{service.name}'s install also contains {run.stdout.strip()}"
