"""The clinical rules are pure: importing a service's decider loads no database, web, messaging
or crypto stack (so a rule can be read, tested and reused without any of them)."""

import subprocess
import sys

import pytest

DECIDERS = [
    "carepath.intake.domain",
    "carepath.eligibility.domain",
    "carepath.session.domain",
    "carepath.integration.domain",
    "carepath.eligibility.policy",
    "carepath.session.policy",
    "carepath.integration.policy",
]
FORBIDDEN = ("sqlalchemy", "sqlmodel", "fastapi", "faststream", "cryptography", "aiokafka", "kafka")


@pytest.mark.parametrize("module", DECIDERS)
def test_importing_a_decider_loads_no_io_stack(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({FORBIDDEN!r}))\n"
        "print(','.join(loaded))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "", f"importing {module} loaded {run.stdout.strip()}"
