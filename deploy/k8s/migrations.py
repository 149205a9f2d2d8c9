"""Each service's database is migrated before its new version starts: `carepath-migrate
<service>` in the service's own image, with its database settings, before the rollout.

How each rendering orders it (deploy/README.md, "Upgrade"):

- Kustomize: an initContainer of the service's Deployment (`migrated_first`). A Job cannot be
  applied again with a new image (its pod template is immutable) and `kubectl apply -k` has no
  order between objects, so the migration runs in every new pod, before its app container; a pod
  whose migration fails never starts, and the rolling update stops with the old pods serving.
- Helm: a Job per service (`migration_job`), a pre-install/pre-upgrade hook (helm_migrations.py):
  Helm runs it, and waits for it, before it applies the new Deployments; a failed migration fails
  the upgrade before any pod of the new version exists.

Both run the container `migration_container` makes from the service's own container: the same
image, the same settings (its ConfigMaps), the same DATABASE_URL (its Secret's key) and the same
hardening. It touches the database only: no Kafka, no signing key, no key-encryption key.
"""

import copy
from typing import Any

from generate import PART_OF, Service, database_egress, dns_egress

COMMAND = "carepath-migrate"
COMPONENT = "migration"  # app.kubernetes.io/component of everything that only a migration uses
BACKOFF_LIMIT = 2  # a database restarting under it gets two more tries; a bad revision fails thrice
DEADLINE_SECONDS = 300  # Helm's own default --timeout: raise both for a long migration
TTL_SECONDS = 86400  # a failed Job (and its pods' logs) kept a day; one that succeeded Helm deletes
TMP = "/tmp"  # noqa: S108 (an emptyDir: the root filesystem is read-only)


def command(service: Service) -> list[str]:
    return [COMMAND, service.name]


def migration_container(service: Service, app: dict[str, Any]) -> dict[str, Any]:
    """`carepath-migrate <service>` as the service's container `app` runs: same image, same
    ConfigMaps, the same Secret key for DATABASE_URL, same security context and resources."""
    return {
        "name": "migrate",
        "image": app["image"],
        "imagePullPolicy": app["imagePullPolicy"],
        "command": command(service),
        "envFrom": copy.deepcopy(app["envFrom"]),
        "env": [copy.deepcopy(v) for v in app["env"] if v["name"] == "DATABASE_URL"],
        "resources": copy.deepcopy(app["resources"]),
        "securityContext": copy.deepcopy(app["securityContext"]),
        "volumeMounts": [copy.deepcopy(m) for m in app["volumeMounts"] if m["mountPath"] == TMP],
    }


def migrated_first(service: Service, deployment: dict[str, Any]) -> dict[str, Any]:
    """Kustomize: the Deployment with its migration as an initContainer, run (to the end) before
    the app container of every new pod. Repeating it is cheap: a database already at the newest
    revision is left as it is, and pods starting together wait for each other (the advisory lock
    schema.migrate takes on PostgreSQL)."""
    obj = copy.deepcopy(deployment)
    template = obj["spec"]["template"]
    (app,) = template["spec"]["containers"]
    pod: dict[str, Any] = {}
    for key, value in template["spec"].items():  # the initContainer written before `containers`
        if key == "containers":
            pod["initContainers"] = [migration_container(service, app)]
        pod[key] = value
    template["spec"] = pod
    return obj


def labels(service: Service) -> dict[str, str]:
    """A migration pod's labels: not the service's, or its Service would send it requests (it
    listens on nothing) and its Deployment's selector would count it; the NetworkPolicy
    `carepath-migration` selects it by its component."""
    return {
        "app.kubernetes.io/name": f"{service.name}-{COMPONENT}",
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/part-of": PART_OF,
    }


def migration_job(service: Service, deployment: dict[str, Any]) -> dict[str, Any]:
    """Helm: the Job that migrates the service's database, from the service's Deployment (its
    container, its pod's security context and /tmp volume). Never restarted in place: a failed
    try leaves its pod (and log) and starts another, up to BACKOFF_LIMIT."""
    pod = deployment["spec"]["template"]["spec"]
    (app,) = pod["containers"]
    container = migration_container(service, app)
    mounted = {mount["name"] for mount in container["volumeMounts"]}
    spec = {
        "backoffLimit": BACKOFF_LIMIT,
        "activeDeadlineSeconds": DEADLINE_SECONDS,
        "ttlSecondsAfterFinished": TTL_SECONDS,
        "template": {
            "metadata": {"labels": labels(service)},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": copy.deepcopy(pod["securityContext"]),
                "containers": [container],
                "volumes": [copy.deepcopy(v) for v in pod["volumes"] if v["name"] in mounted],
            },
        },
    }
    metadata = {"name": f"carepath-{service.name}-migrate", "labels": labels(service)}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


POLICY_SELECTOR = {"app.kubernetes.io/component": COMPONENT, "app.kubernetes.io/part-of": PART_OF}


def migration_network_policy() -> dict[str, Any]:
    """What a migration pod may reach: PostgreSQL and DNS, nothing else; nothing reaches it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"carepath-{COMPONENT}", "labels": dict(POLICY_SELECTOR)},
        "spec": {
            "podSelector": {"matchLabels": dict(POLICY_SELECTOR)},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [database_egress(), dns_egress()],
        },
    }


def hook(
    weight: int,
    events: str = "pre-install,pre-upgrade",
    delete: str = "before-hook-creation,hook-succeeded",
) -> dict[str, str]:
    """Helm's hook annotations: made (lowest weight first) before the release's objects are
    applied; deleted before the next run makes them again and, by default, once every hook of
    the run has succeeded."""
    return {
        "helm.sh/hook": events,
        "helm.sh/hook-weight": str(weight),
        "helm.sh/hook-delete-policy": delete,
    }


READS_WEIGHT = -10  # what the Job reads, and its NetworkPolicy: before it
JOB_WEIGHT = 0
