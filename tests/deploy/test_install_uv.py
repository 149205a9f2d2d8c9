"""`make setup` on a fresh machine: infra/install-uv.sh puts a working uv in ~/.local/bin, also
with Debian's own python3, which is "externally managed" (PEP 668)."""

import os
import subprocess
from pathlib import Path

import pytest

from support import ROOT

DEBIAN_PYTHON = Path("/usr/bin/python3")


def has_pip(python: Path) -> bool:
    """Without pip the script would install Debian's python3-pip: not a test's business."""
    found = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, check=False)
    return python.exists() and found.returncode == 0


@pytest.mark.skipif(not has_pip(DEBIAN_PYTHON), reason="no system python3 with pip")
def test_uv_installs_into_a_fresh_home_with_the_systems_python(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHON": str(DEBIAN_PYTHON)}
    if proxy := os.environ.get("PIP_INDEX_URL"):
        env["PIP_INDEX_URL"] = proxy
    run = subprocess.run(
        [ROOT / "infra" / "install-uv.sh"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    uv = tmp_path / ".local" / "bin" / "uv"
    assert f"uv installed: {uv}" in run.stderr
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("uv ")
