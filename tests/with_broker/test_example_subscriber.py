"""The example subscriber of contracts/README.md works against the real broker."""

import subprocess
import sys
from uuid import uuid4

import httpx
import pytest

from carepath.chassis.auth import Role
from support import ROOT, ServiceProcess, token

pytestmark = pytest.mark.broker


def test_the_example_subscriber_prints_a_referral_posted_over_http(
    intake_service: ServiceProcess, kafka_bootstrap: str
) -> None:
    created = httpx.post(
        f"{intake_service.url}/patients",
        json={
            "given_name": "Noor",
            "family_name": "Haddad",
            "date_of_birth": "1988-04-02",
            "referral_reason": "ptsd",
            "referrer": "Dr Stone",
        },
        headers=token(Role.INTAKE_COORDINATOR),
    )
    patient_id = created.json()["patient_id"]

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "contracts" / "examples" / "subscriber.py"),
            "--bootstrap-servers",
            kafka_bootstrap,
            "--from-beginning",
            "--group",
            f"example-{uuid4().hex[:8]}",
            "--idle-seconds",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if patient_id in line]
    assert "carepath.intake.PatientReferred.v2 -> carepath.intake.PatientReferred.v2" in line
    assert "#1" in line
