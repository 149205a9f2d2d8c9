"""deploy/k8s/one-off-job.sh, which the operator runbook uses to migrate by hand, rebuild the
dashboard, replay dead letters and verify the log in the cluster: the Job it creates from a
rendered Deployment is valid, runs the command in the service's image with its environment,
mounts and hardening, reaches what the service reaches, and never serves the service's
requests. kubectl is a stand-in that hands out the Deployment and keeps what is created."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from conftest import DEPLOY, RENDERINGS, named
from network_policies import KAFKA, POSTGRES, lets_out

Objects = list[dict[str, Any]]
SCRIPT = DEPLOY / "k8s" / "one-off-job.sh"
FAKE_KUBECTL = """#!/usr/bin/env bash
case "$*" in
    *"get deployment"*) cat "$FAKE_DEPLOYMENT" ;;
    *"create -f -"*) cat > "$FAKE_CREATED" && echo "job.batch/created" ;;
    *" logs "*) echo "the job's log" ;;
    *"get job"*) echo "${FAKE_JOB_STATUS:-1/}" ;;
    *"get pods"*) echo "${FAKE_EXIT_CODE:-}" ;;
    *) echo "unexpected: kubectl $*" >&2; exit 3 ;;
esac
"""
RENDERED = [r for r in RENDERINGS if r.variant in ("production", "default")]


def run_script(
    deployment: dict[str, Any], tmp_path: Path, *args: str, status: int = 0, **env: str
) -> Any:
    if shutil.which("jq") is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("jq is missing (CI must run this test)")
        pytest.skip("jq is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    (tmp_path / "deployment.json").write_text(json.dumps(deployment))
    done = subprocess.run(
        [SCRIPT, *args],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_DEPLOYMENT": str(tmp_path / "deployment.json"),
            "FAKE_CREATED": str(tmp_path / "created.json"),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == status, done.stdout + done.stderr
    assert "the job's log" in done.stdout
    return json.loads((tmp_path / "created.json").read_text())


@pytest.mark.parametrize("rendering", RENDERED, ids=str)
def test_a_one_off_job_runs_in_a_pod_like_the_services_and_takes_no_requests(
    manifests: Objects, tmp_path: Path
) -> None:
    deployment = named(manifests, "Deployment", "carepath-dashboard")
    other_database = {"secretKeyRef": {"name": "carepath-dashboard-secrets", "key": "next"}}
    job = run_script(
        deployment,
        tmp_path,
        *("dashboard", "dashboard-rebuild", "carepath-dashboard", "rebuild", "--workers", "1"),
        JOB_ENV=json.dumps([{"name": "DATABASE_URL", "valueFrom": other_database}]),
    )
    kubernetes_validate.validate(job, "1.33.0", strict=True)
    assert job["metadata"]["name"] == "dashboard-rebuild"
    pod, theirs = job["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and "initContainers" not in pod
    for same in ("securityContext", "volumes", "automountServiceAccountToken"):
        assert pod[same] == theirs[same], same
    (container,), (app,) = pod["containers"], theirs["containers"]
    assert container["command"] == ["carepath-dashboard", "rebuild", "--workers", "1"]
    for same in ("image", "envFrom", "volumeMounts", "securityContext", "resources"):
        assert container[same] == app[same], same
    env = {v["name"]: v for v in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"] == other_database
    assert {k: v for k, v in env.items() if k != "DATABASE_URL"} == {
        v["name"]: v for v in app["env"] if v["name"] != "DATABASE_URL"
    }
    # never Ready: the Service that selects its labels sends it nothing
    assert not {"ports", "startupProbe", "livenessProbe"} & set(container)
    assert container["readinessProbe"] == {"exec": {"command": ["false"]}}
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels == deployment["spec"]["template"]["metadata"]["labels"]
    policies = [o for o in manifests if o["kind"] == "NetworkPolicy"]
    assert lets_out(policies, labels, 5432, POSTGRES) and lets_out(policies, labels, 9093, KAFKA)


@pytest.mark.parametrize("rendering", RENDERED[:1], ids=str)
def test_a_one_off_job_may_run_another_image(manifests: Objects, tmp_path: Path) -> None:
    deployment = named(manifests, "Deployment", "carepath-intake")
    image = "ghcr.io/carepath/carepath-intake:0.2.0"
    job = run_script(
        deployment,
        tmp_path,
        *("intake", "intake-check", "carepath-migrate", "intake", "--check"),
        IMAGE=image,
    )
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image
    assert container["command"] == ["carepath-migrate", "intake", "--check"]


@pytest.mark.parametrize("rendering", RENDERED[:1], ids=str)
def test_a_one_off_job_exits_with_the_commands_status(manifests: Objects, tmp_path: Path) -> None:
    """`carepath-migrate --check` says "behind" with 1, `carepath-dlq replay` "unreadable" with 3."""
    deployment = named(manifests, "Deployment", "carepath-eligibility")
    run_script(
        deployment,
        tmp_path,
        *("eligibility", "dlq-replay", "carepath-dlq", "replay", "eligibility"),
        status=3,
        FAKE_JOB_STATUS="/1",
        FAKE_EXIT_CODE="3",
    )
