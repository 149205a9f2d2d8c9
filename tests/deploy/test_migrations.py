"""Each service's database is migrated before its new version starts (deploy/k8s/migrations.py):
in every rendering, exactly one `carepath-migrate <service>` per service, with the service's own
image, settings and DATABASE_URL. Kustomize runs it as an initContainer of the service's pods;
Helm as a pre-install/pre-upgrade hook Job, with what the Job reads made before it. A migration
pod reaches the database and DNS, and is no endpoint of the service. (Hardening: the checks of
test_manifests.py run on these pods and containers too.)"""

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import (
    RENDERINGS,
    Rendering,
    helm_template,
    is_migration_only,
    named,
    of_kind,
)
from network_policies import DNS, KAFKA, KEY_SERVICE, POSTGRES, lets_out, selects

Objects = list[dict[str, Any]]
every_rendering = pytest.mark.parametrize("rendering", RENDERINGS, ids=str)
HELM_RENDERINGS = tuple(r for r in RENDERINGS if r.tool == "helm")


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def migrations(manifests: Objects) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Service -> every (workload, container) that runs `carepath-migrate <service>`."""
    found: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for workload in [*of_kind(manifests, "Deployment"), *of_kind(manifests, "Job")]:
        for container in _containers(workload["spec"]["template"]["spec"]):
            command = container.get("command", [])
            if command[:1] == ["carepath-migrate"]:
                found.setdefault(command[1], []).append((workload, container))
    return found


def _app(manifests: Objects, service: str) -> dict[str, Any]:
    deployment = named(manifests, "Deployment", f"carepath-{service}")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _settings(manifests: Objects, container: dict[str, Any]) -> dict[str, str]:
    """What a container's ConfigMaps set, later ones over earlier ones (as the kubelet does)."""
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env |= named(manifests, "ConfigMap", source["configMapRef"]["name"])["data"]
    return env


def _hook(obj: dict[str, Any]) -> tuple[set[str], int, set[str]]:
    """An object's Helm hook events, weight and delete policies (empty: no hook)."""
    annotations = obj["metadata"].get("annotations", {})
    events = annotations.get("helm.sh/hook", "")
    policies = annotations.get("helm.sh/hook-delete-policy", "")
    return (
        set(filter(None, events.split(","))),
        int(annotations.get("helm.sh/hook-weight", "0")),
        set(filter(None, policies.split(","))),
    )


@every_rendering
def test_each_service_is_migrated_exactly_once_before_it_starts(
    manifests: Objects, rendering: Rendering, generator: ModuleType
) -> None:
    found = migrations(manifests)
    assert set(found) == {s.name for s in generator.SERVICES}
    for service, runs in found.items():
        assert len(runs) == 1, f"{service}: {len(runs)} migrations"
        ((workload, container),) = runs
        assert container["command"] == ["carepath-migrate", service]
        pod = workload["spec"]["template"]["spec"]
        if rendering.tool == "kustomize":  # before the app container of every new pod
            assert workload["metadata"]["name"] == f"carepath-{service}"
            assert pod["initContainers"] == [container]
        else:  # a Job that Helm runs, and waits for, before it applies the Deployments
            assert workload["kind"] == "Job", service
            events, _, delete = _hook(workload)
            assert events == {"pre-install", "pre-upgrade"}, service
            assert {"before-hook-creation", "hook-succeeded"} <= delete
            assert pod["restartPolicy"] == "Never"
            spec = workload["spec"]
            assert spec["backoffLimit"] >= 0 and spec["activeDeadlineSeconds"] > 0
            assert spec["ttlSecondsAfterFinished"] > 0
    if rendering.tool == "helm":
        assert not any("initContainers" in pod for pod in _pods(manifests, "Deployment"))


def _pods(manifests: Objects, kind: str) -> list[dict[str, Any]]:
    return [w["spec"]["template"]["spec"] for w in of_kind(manifests, kind)]


@every_rendering
def test_the_migration_runs_with_the_services_image_settings_and_database(
    manifests: Objects, generator: ModuleType
) -> None:
    for service, ((_, migration),) in migrations(manifests).items():
        app = _app(manifests, service)
        for field in ("image", "imagePullPolicy", "resources", "securityContext"):
            assert migration[field] == app[field], f"{service}: {field}"
        database = [v for v in app["env"] if v["name"] == "DATABASE_URL"]
        assert migration["env"] == database, "DATABASE_URL from the same Secret key, nothing else"
        assert _settings(manifests, migration) == _settings(manifests, app), service


@pytest.mark.parametrize("rendering", HELM_RENDERINGS, ids=str)
def test_what_a_migration_job_reads_is_made_before_it(
    manifests: Objects, rendering: Rendering
) -> None:
    """Helm applies the release's objects after the pre-install hooks: on the first install, what
    the Job reads exists only if it is a hook of a lower weight (or the operator's own Secret)."""
    policies = of_kind(manifests, "NetworkPolicy")
    for job in of_kind(manifests, "Job"):
        events, weight, _ = _hook(job)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        read = [
            named(manifests, "ConfigMap", s["configMapRef"]["name"]) for s in container["envFrom"]
        ]
        pod_labels = job["spec"]["template"]["metadata"]["labels"]
        read += [p for p in policies if selects(p["spec"]["podSelector"], pod_labels)]
        (database,) = [v["valueFrom"]["secretKeyRef"]["name"] for v in container["env"]]
        secrets = [s for s in of_kind(manifests, "Secret") if s["metadata"]["name"] == database]
        assert len(secrets) == (1 if rendering.dev else 0), "placeholders in dev, else yours"
        for obj in read:
            if obj["metadata"]["name"] == "default-deny":  # absent on install: nothing is denied
                continue
            their_events, their_weight, _ = _hook(obj)
            assert their_events == events and their_weight < weight, obj["metadata"]["name"]
        for secret in secrets:  # made once, at install; upgrades leave it as it is
            secret_events, secret_weight, delete = _hook(secret)
            assert secret_events == {"pre-install"} and secret_weight < weight
            assert "hook-succeeded" not in delete, "its Deployment reads it too"


@every_rendering
def test_a_migration_pod_reaches_the_database_and_dns_and_is_no_endpoint_of_its_service(
    manifests: Objects, rendering: Rendering
) -> None:
    policies = of_kind(manifests, "NetworkPolicy")
    selectors = [s["spec"]["selector"] for s in of_kind(manifests, "Service")]
    selectors += [d["spec"]["selector"]["matchLabels"] for d in of_kind(manifests, "Deployment")]
    for service, ((workload, _),) in migrations(manifests).items():
        pod = workload["spec"]["template"]["metadata"]["labels"]
        assert lets_out(policies, pod, 5432, POSTGRES), service
        assert lets_out(policies, pod, 53, DNS), service
        if rendering.tool == "helm":  # a pod of its own: the database only
            assert not lets_out(policies, pod, 9093, KAFKA), service
            assert not lets_out(policies, pod, 8001, KEY_SERVICE), service
            assert not any(selects({"matchLabels": s}, pod) for s in selectors), service


def test_the_chart_migrates_with_the_container_the_kustomize_base_runs_first(
    helm: Path, kustomize_base: Objects, generator: ModuleType
) -> None:
    """One source: the chart's Job runs the base's initContainer, reading the hook copies of the
    ConfigMaps (with the base's settings, the same data: see the test above)."""
    chart = helm_template(helm, "--set", "placeholderSecrets=true", "--set", "image.tag=dev")
    for service in generator.SERVICES:
        deployment = named(kustomize_base, "Deployment", f"carepath-{service.name}")
        pod = deployment["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        job = named(chart, "Job", f"carepath-{service.name}-migrate")
        assert is_migration_only(job)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        for source in init["envFrom"]:  # kustomize's hashed name -> the chart's copy
            name = source["configMapRef"]["name"].rsplit("-", 1)[0]
            source["configMapRef"]["name"] = f"{name}-migration"
        assert container == init, service


def test_the_values_set_the_jobs_image_resources_database_secret_and_limits(helm: Path) -> None:
    objects = helm_template(
        helm,
        *("--set", "image.tag=1.4.0", "--set", "services.session.image.tag=1.4.1"),
        *("--set", "services.session.resources.limits.memory=1Gi"),
        *("--set", "services.eligibility.databaseSecret=eligibility-postgres"),
        *("--set", "database.secretKey=url", "--set", "migrations.activeDeadlineSeconds=900"),
        *("--set", "migrations.backoffLimit=0"),
    )
    jobs = {j["metadata"]["name"]: j for j in of_kind(objects, "Job")}

    def container(service: str) -> dict[str, Any]:
        (found,) = jobs[f"carepath-{service}-migrate"]["spec"]["template"]["spec"]["containers"]
        return dict(found)

    assert container("intake")["image"] == "ghcr.io/carepath/carepath-intake:1.4.0"
    assert container("session")["image"] == "ghcr.io/carepath/carepath-session:1.4.1"
    assert container("session")["resources"] == {"limits": {"memory": "1Gi"}}
    assert container("session")["resources"] == _app(objects, "session")["resources"]
    (database,) = container("eligibility")["env"]
    assert database["valueFrom"]["secretKeyRef"] == {"name": "eligibility-postgres", "key": "url"}
    assert {j["spec"]["activeDeadlineSeconds"] for j in jobs.values()} == {900}
    assert {j["spec"]["backoffLimit"] for j in jobs.values()} == {0}
