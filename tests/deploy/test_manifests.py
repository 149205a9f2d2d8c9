"""The rendered manifests: valid Kubernetes and Strimzi objects, topics and ACLs from the registry,
and the hardening every pod must have. Each check runs on every rendering (conftest.RENDERINGS):
the Kustomize overlays, and the Helm chart with its default and example values."""

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import DEV, PRODUCTION, RENDERINGS, Rendering, named, of_kind

from carepath.contracts.topics import ALL_TOPICS, SUBSCRIPTIONS, dead_letter_topics
from support import ROOT

KUBERNETES_VERSION = "1.33.0"  # bundled by kubernetes-validate; strict: unknown fields fail
Objects = list[dict[str, Any]]
every_rendering = pytest.mark.parametrize("rendering", RENDERINGS, ids=str)


def _label(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


# Custom resources: Strimzi's (checked below) and the Prometheus Operator's (test_monitoring_objects)
CUSTOM_GROUPS = ("kafka.strimzi.io/", "monitoring.coreos.com/")


@every_rendering
def test_every_builtin_object_is_valid_kubernetes(manifests: Objects) -> None:
    errors = []
    for obj in manifests:
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{_label(obj)}: {error.message} at {list(error.path)}")
    assert not errors, "\n".join(errors)


@every_rendering
def test_every_strimzi_object_matches_its_crd(
    manifests: Objects, strimzi_schemas: dict[tuple[str, str], dict[str, Any]]
) -> None:
    strimzi = [o for o in manifests if o["apiVersion"].startswith("kafka.strimzi.io/")]
    assert strimzi
    errors = []
    for obj in strimzi:
        schema = strimzi_schemas.get((obj["apiVersion"], obj["kind"]))
        if schema is None:
            errors.append(f"{_label(obj)}: no CRD serves {obj['apiVersion']}")
            continue
        for error in jsonschema.Draft7Validator(schema).iter_errors(obj):
            errors.append(f"{_label(obj)}: {error.message} at {list(error.absolute_path)}")
        assert obj["metadata"]["labels"]["strimzi.io/cluster"] == "carepath"
    assert not errors, "\n".join(errors)


@every_rendering
def test_every_registry_topic_has_a_kafka_topic_kept_forever(
    manifests: Objects, rendering: Rendering
) -> None:
    topics = {t["metadata"]["name"]: t["spec"] for t in of_kind(manifests, "KafkaTopic")}
    registry = {topic.name for topic in (*ALL_TOPICS, *dead_letter_topics())}
    assert set(topics) == registry
    for name, spec in topics.items():
        assert spec["partitions"] == 6, name
        assert int(spec["config"]["retention.ms"]) == -1, name
    replicas = {spec["replicas"] for spec in topics.values()}
    assert replicas == ({1} if rendering.dev else {3})
    min_insync = {spec["config"]["min.insync.replicas"] for spec in topics.values()}
    assert min_insync == ({"1"} if rendering.dev else {"2"})


def _acls(user: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(type, name, operation); a prefixed resource's name ends with `*`."""
    return {
        (
            acl["resource"]["type"],
            acl["resource"]["name"] + ("*" if acl["resource"]["patternType"] == "prefix" else ""),
            operation,
        )
        for acl in user["spec"]["authorization"]["acls"]
        if acl.get("type", "allow") == "allow"
        for operation in acl["operations"]
    }


def _expected_acls(service: str) -> set[tuple[str, str, str]]:
    consumed = SUBSCRIPTIONS.get(service, ())
    produced = [t.name for t in ALL_TOPICS if t.context in (service, "access")]
    produced += [f"{t.name}.dlq.{service}" for t in consumed]
    expected = {("topic", n, op) for n in produced for op in ("Write", "Describe")}
    expected |= {("topic", t.name, op) for t in consumed for op in ("Read", "Describe")}
    if consumed:
        expected.add(("group", f"carepath.{service}", "Read"))
    if service == "dashboard":  # its dead-letter panel: every DLQ's size, what was replayed
        expected |= {("topic", t.name, "Describe") for t in dead_letter_topics()}
        expected |= {("group", f"carepath.dlq-replay.{c}", "Describe") for c in SUBSCRIPTIONS}
        # its read models' versions: a group each (v2, v3, ...), deleted when pruned
        expected |= {("group", "carepath.dashboard", op) for op in ("Describe", "Delete")}
        expected |= {
            ("group", "carepath.dashboard.v*", op) for op in ("Read", "Describe", "Delete")
        }
    return expected


@every_rendering
def test_every_kafka_user_may_do_exactly_what_the_registry_says(
    manifests: Objects, generator: ModuleType
) -> None:
    users = of_kind(manifests, "KafkaUser")
    assert {u["metadata"]["name"] for u in users} == {
        f"carepath-{s.name}" for s in generator.SERVICES
    } | {"carepath-auditor"}
    for service in generator.SERVICES:
        user = named(users, "KafkaUser", f"carepath-{service.name}")
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert _acls(user) == _expected_acls(service.name), service.name
    # The auditors' tool replays every context topic from offset 0, in no consumer group.
    auditor = named(users, "KafkaUser", "carepath-auditor")
    assert _acls(auditor) == {
        ("topic", t.name, op) for t in ALL_TOPICS for op in ("Read", "Describe")
    }


def _mounts(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mount path -> the pod's volume mounted there."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}


@every_rendering
def test_every_pod_is_hardened_and_probed(manifests: Objects) -> None:
    """Every pod, the services' and the migration Jobs', and every container in it (the
    migration initContainers too): non-root, read-only, no privilege, bounded, /tmp its own."""
    deployments = of_kind(manifests, "Deployment")
    assert len(deployments) == 6
    for workload in [*deployments, *of_kind(manifests, "Job")]:
        pod = workload["spec"]["template"]["spec"]
        assert (
            pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
        )
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False, _label(workload)
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
            assert security["capabilities"]["drop"] == ["ALL"]
            assert {"requests", "limits"} <= set(container["resources"]), _label(workload)
            assert "emptyDir" in _mounts(pod, container)["/tmp"]  # noqa: S108
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        mounts = _mounts(pod, container)
        env = {k: v for ref in _config_maps(manifests, container) for k, v in ref.items()}
        # Kubernetes kills a pod at the end of its grace period: the preStop wait and the
        # service's whole shutdown (CAREPATH_SHUTDOWN_SECONDS) fit in it, with a margin.
        pre_stop = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
        shutdown = float(env["CAREPATH_SHUTDOWN_SECONDS"])
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + shutdown + 5, _label(deployment)
        assert "emptyDir" in mounts[env["CAREPATH_VAR_DIR"]]
        assert env["CAREPATH_KEYS_DIR"].startswith(env["CAREPATH_VAR_DIR"] + "/")


def _config_maps(objects: list[dict[str, Any]], container: dict[str, Any]) -> list[dict[str, str]]:
    return [
        named(objects, "ConfigMap", source["configMapRef"]["name"])["data"]
        for source in container.get("envFrom", [])
        if "configMapRef" in source
    ]


# Secrets that Strimzi makes, not the overlays: the User Operator's one per KafkaUser (same name,
# key `password`), and the cluster CA's certificate, copied from namespace `kafka`.
KAFKA_CA_SECRET = "carepath-cluster-ca-cert"


def _secret_keys(objects: list[dict[str, Any]], name: str) -> set[str]:
    if name == KAFKA_CA_SECRET:
        return {"ca.crt"}
    if name in {user["metadata"]["name"] for user in of_kind(objects, "KafkaUser")}:
        return {"password", "sasl.jaas.config"}
    return set(named(objects, "Secret", name)["stringData"])


@pytest.mark.parametrize("rendering", DEV, ids=str)
def test_dev_references_only_config_maps_and_secrets_it_renders(manifests: Objects) -> None:
    for workload in [*of_kind(manifests, "Deployment"), *of_kind(manifests, "Job")]:
        pod = workload["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            _config_maps(manifests, container)  # fails when one is missing
            for variable in container["env"]:
                ref = variable["valueFrom"]["secretKeyRef"]
                assert ref["key"] in _secret_keys(manifests, ref["name"]), ref
        for volume in pod["volumes"]:
            if "secret" in volume:
                keys = _secret_keys(manifests, volume["secret"]["secretName"])
                assert {i["key"] for i in volume["secret"]["items"]} <= keys, volume


@pytest.mark.parametrize("rendering", DEV, ids=str)
def test_dev_runs_one_replica_without_autoscaling(manifests: Objects) -> None:
    assert {d["spec"]["replicas"] for d in of_kind(manifests, "Deployment")} == {1}
    assert not of_kind(manifests, "HorizontalPodAutoscaler")
    assert not of_kind(manifests, "PodDisruptionBudget")


@pytest.mark.parametrize("rendering", PRODUCTION, ids=str)
def test_production_scales_2_to_6_keeps_one_up_and_pins_images(
    manifests: Objects, generator: ModuleType
) -> None:
    assert not of_kind(manifests, "Secret"), "production Secrets are created by the operator"
    autoscaled = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]
        for h in of_kind(manifests, "HorizontalPodAutoscaler")
    }
    for service in generator.SERVICES:
        name = f"carepath-{service.name}"
        budget = named(manifests, "PodDisruptionBudget", name)["spec"]
        deployment = named(manifests, "Deployment", name)["spec"]
        if service.singleton:  # one audit trail writer, replaced not rolled
            assert name not in autoscaled and deployment["replicas"] == 1
            assert deployment["strategy"]["type"] == "Recreate"
            assert budget["maxUnavailable"] == 1
        else:
            assert (autoscaled[name]["minReplicas"], autoscaled[name]["maxReplicas"]) == (2, 6)
            assert "replicas" not in deployment, "the HPA owns the replica count"
            assert budget["minAvailable"] == 1
        pod = deployment["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert container["image"] == f"ghcr.io/carepath/carepath-{service.name}:0.1.0"


@every_rendering
def test_a_dashboard_rollout_waits_for_its_read_models_to_build(manifests: Objects) -> None:
    # A new version's pods are not ready until its read models have caught up: far longer than
    # Kubernetes' default rollout deadline (600 s), after which the rollout would be failed.
    dashboard = named(manifests, "Deployment", "carepath-dashboard")["spec"]
    assert dashboard["progressDeadlineSeconds"] >= 3600
    for other in of_kind(manifests, "Deployment"):
        if other["metadata"]["name"] != "carepath-dashboard":
            assert "progressDeadlineSeconds" not in other["spec"], other["metadata"]["name"]


@every_rendering
def test_network_policies_deny_by_default_and_open_only_what_each_service_needs(
    manifests: Objects, rendering: Rendering, generator: ModuleType
) -> None:
    deny = named(manifests, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for service in generator.SERVICES:
        policy = named(manifests, "NetworkPolicy", f"carepath-{service.name}")["spec"]
        assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": service.port}]}]
        egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
        # Kafka's TLS/SCRAM listener, PostgreSQL, DNS; and intake, the key service, for the others.
        key_service = set() if service.name == "intake" else {8001}
        assert egress_ports == {9093, 5432, 53} | key_service | rendering.extra_egress_ports


def _kafka_cluster(kustomize: Path, variant: str) -> list[dict[str, Any]]:
    built = subprocess.run(
        [kustomize, "build", ROOT / "deploy" / "k8s" / "kafka" / variant],
        check=True,
        capture_output=True,
        text=True,
    )
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


@pytest.mark.parametrize("variant", ["base", "dev"])
def test_the_kafka_cluster_has_a_scram_tls_listener_and_refuses_what_no_acl_allows(
    kustomize: Path, variant: str, strimzi_schemas: dict[tuple[str, str], dict[str, Any]]
) -> None:
    objects = _kafka_cluster(kustomize, variant)
    for obj in objects:
        schema = strimzi_schemas[(obj["apiVersion"], obj["kind"])]
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(obj)]
        assert not errors, f"{_label(obj)}: {errors}"
        assert obj["metadata"]["namespace"] == "kafka"
    kafka = named(objects, "Kafka", "carepath")["spec"]
    assert kafka["kafka"]["authorization"]["type"] == "simple"
    listeners = kafka["kafka"]["listeners"]
    assert all(listener.get("authentication") for listener in listeners), "an open listener"
    (tls,) = [listener for listener in listeners if listener["port"] == 9093]
    assert tls["tls"] and tls["authentication"]["type"] == "scram-sha-512"
    watched = {
        kafka["entityOperator"][op]["watchedNamespace"] for op in ("topicOperator", "userOperator")
    }
    assert watched == {"carepath"}
    nodes = named(objects, "KafkaNodePool", "dual-role")["spec"]["replicas"]
    assert nodes == (1 if variant == "dev" else 3)


@every_rendering
def test_every_service_connects_over_sasl_ssl_as_its_kafka_user(manifests: Objects) -> None:
    for deployment in of_kind(manifests, "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        config = {k: v for ref in _config_maps(manifests, container) for k, v in ref.items()}
        assert config["KAFKA_BOOTSTRAP_SERVERS"].endswith(".kafka.svc:9093"), name
        assert config["CAREPATH_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert config["CAREPATH_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert config["CAREPATH_KAFKA_USERNAME"] == name, "the KafkaUser is named as the service"
        named(manifests, "KafkaUser", name)
        password = next(e for e in container["env"] if e["name"] == "CAREPATH_KAFKA_PASSWORD")
        assert password["valueFrom"]["secretKeyRef"] == {"name": name, "key": "password"}
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        ca = Path(config["CAREPATH_KAFKA_CA_FILE"])
        secret = mounts[str(ca.parent)]["secret"]
        assert secret["secretName"] == KAFKA_CA_SECRET, name
        assert {"key": "ca.crt", "path": ca.name} in secret["items"], name
