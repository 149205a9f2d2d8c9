"""deploy/README.md's operator runbook documents only commands that exist: each command it runs in
a service's pod (deploy/k8s/one-off-job.sh SERVICE JOB COMMAND...) is a console script of that
service's image and accepts the subcommand and options given (`--help` after them: an unknown
option or subcommand is an error before any help), each compose service it names is in
compose.yaml, the KafkaUser it has operators create is one Strimzi takes, and an overlay keeps the
public keys as it says."""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import DEPLOY, named, of_kind

from support import ROOT

README = DEPLOY / "README.md"
COMPOSE = "docker compose -f deploy/compose.yaml"


def runbook() -> str:
    text = README.read_text()
    return text.split("\n## Operator runbook\n", 1)[1].split("\n## ", 1)[0]


def snippets() -> list[str]:
    """Each command line of the runbook's shell blocks (continued lines joined, comments left
    out), and each command quoted inline in its prose (wrapped lines joined)."""
    text = runbook()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    lines = [
        line.split(" #", 1)[0].strip()
        for block in blocks
        for line in re.sub(r"\\\n\s*", " ", block).splitlines()
    ]
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    inline = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return [snippet for snippet in [*lines, *inline] if snippet]


def one_off_commands() -> list[list[str]]:
    """[service, job, command, arguments...] of each one-off-job.sh the runbook runs."""
    found = []
    for snippet in snippets():
        if "deploy/k8s/one-off-job.sh " in snippet:
            words = shlex.split(snippet.split("deploy/k8s/one-off-job.sh ", 1)[1])
            if words[0] != "SERVICE" and len(words) >= 3:
                found.append(words)
    return found


def scripts(member: str) -> set[str]:
    pyproject = tomllib.loads((ROOT / member / "pyproject.toml").read_text())
    return set(pyproject["project"].get("scripts", {}))


def test_the_runbook_runs_commands_the_services_images_have(generator: ModuleType) -> None:
    commands = one_off_commands()
    assert len(commands) >= 10, commands
    services = {s.name for s in generator.SERVICES}
    for service, _job, script, *arguments in commands:
        assert service in services, service
        # an image holds its service's package and the chassis (every service depends on it)
        installed = scripts(f"services/{service}") | scripts("services/chassis")
        assert script in installed, f"{script} is not in the {service} image"
        if script == "carepath-migrate":
            assert arguments[0] == service, "a service's pod migrates its own database"
        run = subprocess.run(
            [str(Path(sys.executable).parent / script), *arguments, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, f"{script} {' '.join(arguments)}: {run.stdout}{run.stderr}"


def test_the_runbook_names_only_compose_services_that_exist() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    pattern = rf"{re.escape(COMPOSE)} (?:run --rm|exec|stop|start) ([a-z][\w-]*)"
    named = {name for snippet in snippets() for name in re.findall(pattern, snippet)}
    assert {"intake-migrate", "dashboard", "eligibility", "issuer"} <= named
    assert set(named) <= set(compose)


def test_the_operators_kafka_user_matches_strimzis_crd(
    strimzi_schemas: dict[tuple[str, str], dict[str, Any]],
) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", runbook(), re.DOTALL)
    users = [doc for block in blocks if (doc := yaml.safe_load(block)).get("kind") == "KafkaUser"]
    assert len(users) == 1
    (user,) = users
    schema = strimzi_schemas[(user["apiVersion"], "KafkaUser")]
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(user)]
    assert not errors, errors
    if not user["metadata"]["labels"]["strimzi.io/cluster"] == "carepath":
        pytest.fail("the User Operator takes only users of its cluster")


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_an_overlay_keeps_the_public_keys_as_the_runbook_says(
    kustomize: Path, overlay: str, tmp_path: Path
) -> None:
    """The runbook's configMapGenerator (`behavior: replace`) fills the base's empty
    carepath-public-keys under the same name, so every pod mounts the keys it lists."""
    (tmp_path / "public-keys").mkdir()
    files = {"intake.pub": "q2m3ZQ+/abc=", "intake.0123456789abcdef.pub": "q2m3ZQ+/abc="}
    for name, key in files.items():
        (tmp_path / "public-keys" / name).write_text(key + "\n")
    base = os.path.relpath(DEPLOY / "k8s" / "overlays" / overlay, tmp_path)
    generator = {
        "name": "carepath-public-keys",
        "behavior": "replace",
        "files": [f"public-keys/{name}" for name in files],
    }
    kustomization = {"resources": [base], "configMapGenerator": [generator]}
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    built = subprocess.run(
        [kustomize, "build", tmp_path], check=True, capture_output=True, text=True
    )
    objects = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    keys = named(objects, "ConfigMap", "carepath-public-keys")["data"]
    assert {name: value.strip() for name, value in keys.items()} == files
    for deployment in of_kind(objects, "Deployment"):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["public-keys"]["configMap"]["name"] == "carepath-public-keys"
