"""The rendered dev Deployments and the code agree on configuration: each service's database,
migrated by exactly the command and environment of its rendered migration (the Deployment's
initContainer), and then the service, started with exactly the environment its Deployment sets
(ConfigMaps and Secrets resolved from the rendered objects, the image's command from its
Dockerfile), becomes ready. Only the addresses of the outside world are swapped for the test's:
Kafka, the database, the mounted paths, the port. The Deployments connect to Strimzi's SCRAM
listener with the password the User Operator puts in the KafkaUser's Secret; here they connect to
the test's plaintext broker instead (the secured connection itself is tested in
tests/faults/test_kafka_security.py). Services refuse a database that is behind: nothing here
migrates on start (CAREPATH_MIGRATE_ON_START), so a service that became ready found its database
migrated by the rendered migration."""

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DEPLOY, named, of_kind
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from support import free_port, wait_until

pytestmark = pytest.mark.broker


def container_environment(
    objects: list[dict[str, Any]], container: dict[str, Any]
) -> dict[str, str]:
    """The variables the container gets, as the kubelet would resolve them."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(named(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = secret_value(objects, ref["name"], ref["key"])
    return env


def secret_value(objects: list[dict[str, Any]], name: str, key: str) -> str:
    """A key of a rendered Secret, or of the Secret the User Operator makes for a KafkaUser."""
    if name in {user["metadata"]["name"] for user in of_kind(objects, "KafkaUser")}:
        assert key == "password", f"the User Operator's Secret {name} has no key {key}"
        return "made-by-the-strimzi-user-operator"
    return str(named(objects, "Secret", name)["stringData"][key])


def image_command(service: str) -> list[str]:
    dockerfile = (DEPLOY / "docker" / f"{service}.Dockerfile").read_text()
    (cmd,) = re.findall(r'^CMD \["([^"]+)"\]$', dockerfile, re.MULTILINE)
    return [installed(cmd)]


def installed(script: str) -> str:
    """A console script as the image has it on its PATH: here, this virtualenv's."""
    return str(Path(sys.executable).parent / script)


def local_environment(
    objects: list[dict[str, Any]], container: dict[str, Any], work: Path
) -> dict[str, str]:
    """The container's environment, with each mounted path turned into the test's folder for
    that volume (a volume is one folder, whichever container of the pod mounts it)."""
    mounts = {m["mountPath"]: work / m["name"] for m in container["volumeMounts"]}
    for directory in mounts.values():
        directory.mkdir(parents=True, exist_ok=True)
    env = container_environment(objects, container)
    for key, value in env.items():
        for mount, local in mounts.items():
            if value == mount or value.startswith(mount + "/"):
                env[key] = str(local) + value[len(mount) :]
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["CAREPATH_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert "CAREPATH_MIGRATE_ON_START" not in env, "a cluster never migrates on start"
    return env


def the_tests_world(kafka_bootstrap: str, database: Path) -> dict[str, str]:
    """The outside world's addresses, as this test has them."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CAREPATH_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",  # the test's broker
        "DATABASE_URL": f"sqlite:///{database}",
        "PATH": os.environ["PATH"],
    }


def migrate(
    objects: list[dict[str, Any]], deployment: dict[str, Any], work: Path, world: dict[str, str]
) -> None:
    """Run the Deployment's migration (its one initContainer) as rendered, to the end."""
    pod = deployment["spec"]["template"]["spec"]
    (migration,) = pod["initContainers"]
    env = local_environment(objects, migration, work) | world
    script, *arguments = migration["command"]
    done = subprocess.run(
        [installed(script), *arguments],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{migration['command']} failed:\n{done.stdout}{done.stderr}"
    assert "migrated from no revision to" in done.stdout, done.stdout


def test_every_service_starts_ready_with_its_dev_deployment_environment(
    rendered: dict[str, list[dict[str, Any]]], kafka_bootstrap: str, tmp_path: Path
) -> None:
    objects = rendered["dev"]
    started: list[tuple[str, subprocess.Popen[bytes], str, Path]] = []
    try:
        for deployment in of_kind(objects, "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            name = container["name"]
            work = tmp_path / name
            work.mkdir()
            world = the_tests_world(kafka_bootstrap, work / "service.db")
            migrate(objects, deployment, work, world)  # before the app container, as in the pod
            env = local_environment(objects, container, work)
            key_file = Path(env["CAREPATH_SIGNING_KEY_FILE"])  # the Secret holds a placeholder
            key_file.write_bytes(
                Ed25519PrivateKey.generate().private_bytes(
                    Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
                )
            )
            if "CAREPATH_KEK_FILE" in env:  # the key service: its Secret holds a placeholder too
                Path(env["CAREPATH_KEK_FILE"]).write_bytes(base64.b64encode(os.urandom(32)))
            port = free_port()
            env |= world | {"CAREPATH_HTTP_HOST": "127.0.0.1", "CAREPATH_HTTP_PORT": str(port)}
            log = work / "service.log"
            process = subprocess.Popen(
                image_command(name),
                env=env,
                cwd=work,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            started.append((name, process, f"http://127.0.0.1:{port}", log))
        assert {name for name, *_ in started} == {
            "dashboard",
            "intake",
            "eligibility",
            "session",
            "integration",
            "audit",
        }
        for name, process, url, log in started:

            def ready(
                process: subprocess.Popen[bytes] = process, url: str = url, log: Path = log
            ) -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"{log.parent.name} exited:\n{log.read_text()[-3000:]}")
                try:
                    return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, timeout=60, what=f"{name} ready (log: {log})", every=0.2)
    finally:
        for _, process, _, _ in started:
            process.terminate()
        for _, process, _, _ in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
