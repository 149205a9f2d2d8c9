"""Write the repetitive deployment files from one service table and the topic registry.

    uv run python deploy/k8s/generate.py           # rewrite the files
    uv run python deploy/k8s/generate.py --check   # exit 1 when a committed file differs

Writes deploy/docker/<service>.Dockerfile (+ .dockerignore), deploy/k8s/base/*, the
production overlay's list of Secrets it leaves to the operator, the Helm chart
deploy/helm/carepath/ (helm_chart.py: these same objects, with Helm filling in what its values
set), the schema migrations before each rollout (migrations.py: an initContainer in the base, a
hook Job in the chart, helm_migrations.py), and deploy/monitoring/: the alert rules and their
promtool tests (monitoring.py, alert_cases.py) and the Grafana dashboard (grafana.py).
Hand-written: the overlays' other files, deploy/compose.yaml, deploy/helm/values-*.yaml,
deploy/monitoring/prometheus.example.yaml. tests/deploy/test_generated_files.py keeps them in step.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from carepath.chassis.kafka_acls import AUDITOR, Permission, permissions, user_name
from carepath.chassis.settings import ServiceSettings
from carepath.contracts.topics import ALL_TOPICS, Topic, dead_letter_topics

DEPLOY = Path(__file__).resolve().parents[1]
BASE = DEPLOY / "k8s" / "base"
PART_OF = "carepath"
KAFKA_CLUSTER = "carepath"  # the Strimzi Kafka resource, in namespace KAFKA_NAMESPACE
KAFKA_NAMESPACE = "kafka"
KAFKA_PORT = 9093  # the cluster's `tls` listener: SCRAM-SHA-512 over TLS (deploy/k8s/kafka)
KAFKA_BOOTSTRAP = f"{KAFKA_CLUSTER}-kafka-bootstrap.{KAFKA_NAMESPACE}.svc:{KAFKA_PORT}"
# Strimzi's cluster CA (ca.crt), copied from namespace KAFKA_NAMESPACE (deploy/README.md)
KAFKA_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"
KAFKA_CA_DIR = "/etc/carepath/kafka-ca"
PARTITIONS = 6
TOPIC_REPLICAS = 3
MIN_INSYNC_REPLICAS = 2  # with 3 replicas: a write survives one broker down
MIN_REPLICAS = 2  # the HPA's floor: one pod may be replaced while another serves
CPU_TARGET = 70  # the HPA's target, percent of the CPU request
RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
UID = 10001
STATE_DIR = "/var/lib/carepath"  # CAREPATH_VAR_DIR; an emptyDir in Kubernetes
SIGNING_DIR = "/etc/carepath/signing"
IMAGE_REGISTRY = "ghcr.io/carepath"
UV_VERSION = "0.13.9"  # the uv that wrote uv.lock
# Stopping a pod: its preStop wait, then SIGTERM and the service's own shutdown, every step of
# it within CAREPATH_SHUTDOWN_SECONDS (the chassis' ShutdownBudget); the grace period holds both
# and a margin, so that Kubernetes never kills a service halfway through its last batch.
PRE_STOP_SECONDS = 5
SHUTDOWN_SECONDS = int(ServiceSettings.model_fields["shutdown_seconds"].default)
SHUTDOWN_MARGIN_SECONDS = 5
GRACE_PERIOD_SECONDS = PRE_STOP_SECONDS + SHUTDOWN_SECONDS + SHUTDOWN_MARGIN_SECONDS
# A new version of the dashboard's read models builds from offset 0 before its pods are ready
# (deploy/README.md, "Rebuild a projection"): the rollout makes no progress meanwhile, and
# Kubernetes' default deadline (600 s) would mark it failed. Raise it for a longer history.
DASHBOARD_PROGRESS_DEADLINE_SECONDS = 6 * 3600
METRICS_PATH = "/metrics"  # on each service's HTTP port; no token needed (README, "Metrics")
MONITORING = DEPLOY / "monitoring"  # the alert rules and the Grafana dashboard (monitoring.py)


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    script: str
    singleton: bool = False  # must never run twice at once (see `audit` below)

    @property
    def labels(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.name, "app.kubernetes.io/part-of": PART_OF}

    @property
    def secret(self) -> str:
        return (
            f"carepath-{self.name}-secrets"  # not the KafkaUser name: its operator owns that Secret
        )

    @property
    def kafka_user(self) -> str:
        """The KafkaUser, and the Secret the User Operator makes for it (key `password`)."""
        return user_name(self.name)


SERVICES = (
    Service("dashboard", 8000, "carepath-dashboard"),
    Service("intake", 8001, "carepath-intake"),
    Service("eligibility", 8002, "carepath-eligibility"),
    Service("session", 8003, "carepath-session"),
    Service("integration", 8004, "carepath-integration"),
    # The audit trail is one hash chain: each entry reads the last hash, then appends. Two
    # writers at once would fork the chain, so audit runs as one pod, replaced (not rolled).
    Service("audit", 8005, "carepath-audit-service", singleton=True),
)
WORKSPACE_MEMBERS = (
    "contracts",
    "services/chassis",
    *(f"services/{s.name}" for s in SERVICES),
    "infra/seed",
)


# ---------------------------------------------------------------------------------------- docker
def dockerfile(service: Service) -> str:
    member_pyprojects = "\n".join(
        f"COPY {member}/pyproject.toml {member}/" for member in WORKSPACE_MEMBERS
    )
    health = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{service.port}/healthz', timeout=3)"
    )
    return f"""\
# syntax=docker/dockerfile:1
# GENERATED by deploy/k8s/generate.py; edit that, not this file.
# Build from the repository root:
#   docker build -f deploy/docker/{service.name}.Dockerfile -t carepath/{service.name} .

FROM python:3.11-slim AS builder
RUN pip install --no-cache-dir uv=={UV_VERSION}
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \\
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Third-party dependencies first: this layer changes only with uv.lock.
COPY pyproject.toml uv.lock ./
{member_pyprojects}
RUN uv sync --frozen --no-dev --no-install-workspace --package carepath-{service.name}
# Then the workspace packages, installed (not editable) into the venv: the venv is the app.
COPY contracts/ contracts/
COPY services/ services/
COPY infra/seed/ infra/seed/
RUN uv sync --frozen --no-dev --no-editable --package carepath-{service.name}

FROM python:3.11-slim
RUN groupadd --gid {UID} carepath \\
    && useradd --uid {UID} --gid {UID} --no-create-home --shell /usr/sbin/nologin carepath \\
    && mkdir -p {STATE_DIR}/keys && chown -R {UID}:{UID} {STATE_DIR}
COPY --from=builder /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    CAREPATH_HTTP_HOST=0.0.0.0 \\
    CAREPATH_HTTP_PORT={service.port} \\
    CAREPATH_VAR_DIR={STATE_DIR} \\
    CAREPATH_KEYS_DIR={STATE_DIR}/keys
WORKDIR {STATE_DIR}
USER {UID}:{UID}
EXPOSE {service.port}
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \\
    CMD ["python", "-c", "{health}"]
CMD ["{service.script}"]
"""


DOCKERIGNORE = """\
# GENERATED by deploy/k8s/generate.py. BuildKit reads <Dockerfile>.dockerignore.
**/.venv
**/__pycache__
**/*.pyc
**/.pytest_cache
**/.mypy_cache
**/.ruff_cache
.git
var
infra/kafka/.jars
deploy
tests
contracts/tools/*/node_modules
"""


# ------------------------------------------------------------------------------------ kubernetes
def configmap(service: Service) -> dict[str, str]:
    """Non-secret settings (the chassis' ServiceSettings), for the base kustomization."""
    return {
        "CAREPATH_HTTP_HOST": "0.0.0.0",  # noqa: S104 (a pod listens on its own IP)
        "CAREPATH_HTTP_PORT": str(service.port),
        "CAREPATH_VAR_DIR": STATE_DIR,
        "CAREPATH_KEYS_DIR": f"{STATE_DIR}/keys",
        "CAREPATH_SIGNING_KEY_FILE": f"{SIGNING_DIR}/signing-key.pem",
        "CAREPATH_KAFKA_USERNAME": service.kafka_user,
        "CAREPATH_SHUTDOWN_SECONDS": str(SHUTDOWN_SECONDS),  # within the pod's grace period
        **key_store_config(service),
    }


KEY_SERVICE = "intake"  # keeps the patients' data keys (README, "Patient data")
KEK_DIR = "/var/run/carepath-kek"


def key_store_config(service: Service) -> dict[str, str]:
    """Intake reads the key-encryption key from its Secret; the others ask intake for keys."""
    if service.name == KEY_SERVICE:
        return {"CAREPATH_KEK_FILE": f"{KEK_DIR}/kek", "CAREPATH_KEK_ID": "carepath-kek-1"}
    port = next(s.port for s in SERVICES if s.name == KEY_SERVICE)
    return {"CAREPATH_KEY_SERVICE_URL": f"http://carepath-{KEY_SERVICE}:{port}"}


PLACEHOLDER = "REPLACE-ME"  # base Secrets carry placeholders; see deploy/README.md
COMMON_CONFIG = {
    "KAFKA_BOOTSTRAP_SERVERS": KAFKA_BOOTSTRAP,
    # Each service as its KafkaUser; the password comes from the User Operator's Secret.
    "CAREPATH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "CAREPATH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "CAREPATH_KAFKA_CA_FILE": f"{KAFKA_CA_DIR}/ca.crt",
    "CAREPATH_CLINIC_TIMEZONE": "UTC",  # the clinic's IANA zone: what "today" means
    # The clinic's OpenID Connect provider (deploy/README.md, "Identity provider").
    "CAREPATH_OIDC_ISSUER": f"https://{PLACEHOLDER}.idp.example/realms/carepath",
    "CAREPATH_OIDC_JWKS_URL": (
        f"https://{PLACEHOLDER}.idp.example/realms/carepath/protocol/openid-connect/certs"
    ),
    "CAREPATH_OIDC_TOKEN_URL": (
        f"https://{PLACEHOLDER}.idp.example/realms/carepath/protocol/openid-connect/token"
    ),
}


def deployment(service: Service) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": "http"}}
    container = {
        "name": service.name,
        "image": f"{IMAGE_REGISTRY}/carepath-{service.name}:dev",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": service.port, "protocol": "TCP"}],
        "envFrom": [
            {"configMapRef": {"name": "carepath-common"}},
            {"configMapRef": {"name": f"carepath-{service.name}"}},
        ],
        "env": [
            _secret_env("DATABASE_URL", service.secret, "database-url"),
            _secret_env("CAREPATH_KAFKA_PASSWORD", service.kafka_user, "password"),
            *(
                [_secret_env("CAREPATH_OIDC_CLIENT_SECRET", service.secret, "oidc-client-secret")]
                if service.name != KEY_SERVICE  # it asks no one for a key
                else []
            ),
            *(  # one CSRF key for every replica: a browser's token holds whichever it reaches
                [_secret_env("CAREPATH_CSRF_KEY", service.secret, "csrf-key")]
                if service.name == "dashboard"
                else []
            ),
        ],
        "resources": RESOURCES,
        "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 30},
        "livenessProbe": {**probe, "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 3},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        },
        # Let the Service's endpoints drop this pod before uvicorn stops accepting requests.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
            {"name": "state", "mountPath": STATE_DIR},
            {"name": "signing-key", "mountPath": SIGNING_DIR, "readOnly": True},
            {"name": "public-keys", "mountPath": f"{STATE_DIR}/keys", "readOnly": True},
            {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True},
            *(
                [{"name": "kek", "mountPath": KEK_DIR, "readOnly": True}]
                if service.name == KEY_SERVICE
                else []
            ),
        ],
    }
    strategy: dict[str, Any] = (
        {"type": "Recreate"}
        if service.singleton
        else {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    )
    spec: dict[str, Any] = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": service.labels},
        "strategy": strategy,
        "template": {
            "metadata": {"labels": service.labels, "annotations": scrape_annotations(service)},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": GRACE_PERIOD_SECONDS,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": UID,
                    "runAsGroup": UID,
                    "fsGroup": UID,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": [
                    *kek_volume(service),
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    {"name": "state", "emptyDir": {"sizeLimit": "256Mi"}},
                    {
                        "name": "signing-key",
                        "secret": {
                            "secretName": service.secret,
                            "defaultMode": 0o440,
                            "items": [{"key": "signing-key.pem", "path": "signing-key.pem"}],
                        },
                    },
                    {"name": "public-keys", "configMap": {"name": PUBLIC_KEYS}},
                    {
                        "name": "kafka-ca",
                        "secret": {
                            "secretName": KAFKA_CA_SECRET,
                            "defaultMode": 0o444,
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        },
                    },
                ],
            },
        },
    }
    if service.name == "dashboard":
        spec = {"progressDeadlineSeconds": DASHBOARD_PROGRESS_DEADLINE_SECONDS, **spec}
    if service.singleton:
        spec = {"replicas": 1, **spec}
    return _object("apps/v1", "Deployment", service, spec)


def scrape_annotations(service: Service) -> dict[str, str]:
    """For a Prometheus that finds pods by annotation (the operator's uses the PodMonitor)."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(service.port),
        "prometheus.io/path": METRICS_PATH,
    }


def kek_volume(service: Service) -> list[dict[str, Any]]:
    if service.name != KEY_SERVICE:
        return []
    secret = {"secretName": "carepath-kek", "defaultMode": 0o440}
    return [{"name": "kek", "secret": {**secret, "items": [{"key": "kek", "path": "kek"}]}}]


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _object(api: str, kind: str, service: Service, spec: dict[str, Any]) -> dict[str, Any]:
    metadata = {"name": f"carepath-{service.name}", "labels": service.labels}
    return {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec}


def k8s_service(service: Service) -> dict[str, Any]:
    port = {"name": "http", "port": service.port, "targetPort": "http", "protocol": "TCP"}
    return _object("v1", "Service", service, {"selector": service.labels, "ports": [port]})


def pdb(service: Service) -> dict[str, Any]:
    # A singleton may be evicted (a drain must not hang on it); the others keep one pod up.
    budget = {"maxUnavailable": 1} if service.singleton else {"minAvailable": 1}
    return _object(
        "policy/v1",
        "PodDisruptionBudget",
        service,
        {**budget, "selector": {"matchLabels": service.labels}},
    )


def hpa(service: Service) -> dict[str, Any]:
    # More than PARTITIONS replicas would leave consumers idle: partitions cap the parallelism.
    return _object(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        service,
        {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"carepath-{service.name}",
            },
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": PARTITIONS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET},
                    },
                }
            ],
        },
    )


def kafka_egress() -> dict[str, Any]:
    """The NetworkPolicy rule that lets a service reach the Strimzi brokers' TLS listener."""
    kafka_pods = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": KAFKA_NAMESPACE}},
        "podSelector": {
            "matchLabels": {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/kind": "Kafka"}
        },
    }
    return {"to": [kafka_pods], "ports": [{"protocol": "TCP", "port": KAFKA_PORT}]}


def database_egress() -> dict[str, Any]:
    """The NetworkPolicy rule that lets a service reach PostgreSQL (deploy/README.md)."""
    postgres_pods = {
        "namespaceSelector": {},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}},
    }
    return {"to": [postgres_pods], "ports": [{"protocol": "TCP", "port": 5432}]}


def dns_egress() -> dict[str, Any]:
    """The NetworkPolicy rule that lets a pod resolve names (the cluster's DNS)."""
    dns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    return {
        "to": [dns],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def network_policy(service: Service) -> dict[str, Any]:
    return _object(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        service,
        {
            "podSelector": {"matchLabels": service.labels},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": service.port}]}],
            "egress": [
                kafka_egress(),
                database_egress(),
                *key_service_egress(service),
                dns_egress(),
            ],
        },
    )


def key_service_egress(service: Service) -> list[dict[str, Any]]:
    """Every service but the key service asks it for patients' data keys."""
    if service.name == KEY_SERVICE:
        return []
    key_service = next(s for s in SERVICES if s.name == KEY_SERVICE)
    return [
        {
            "to": [{"podSelector": {"matchLabels": key_service.labels}}],
            "ports": [{"protocol": "TCP", "port": key_service.port}],
        }
    ]


def kafka_acls(client: str) -> list[dict[str, Any]]:
    """Simple-authorization ACLs, from the one derivation the local secured broker uses too."""
    return [_acl(permission) for permission in permissions(client)]


def _acl(permission: Permission) -> dict[str, Any]:
    resource = {
        "type": permission.resource,
        "name": permission.name,
        "patternType": "prefix" if permission.prefixed else "literal",
    }
    return {"type": "allow", "resource": resource, "operations": list(permission.operations)}


def kafka_user(client: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": user_name(client),
            "labels": {**labels, "strimzi.io/cluster": KAFKA_CLUSTER},
        },
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": kafka_acls(client)},
        },
    }


AUDITOR_LABELS = {"app.kubernetes.io/name": AUDITOR, "app.kubernetes.io/part-of": PART_OF}


def kafka_topic(topic: Topic) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {
            "name": topic.name,
            "labels": {"app.kubernetes.io/part-of": PART_OF, "strimzi.io/cluster": KAFKA_CLUSTER},
        },
        "spec": {
            "partitions": PARTITIONS,
            "replicas": TOPIC_REPLICAS,
            "config": {**topic.config(), "min.insync.replicas": str(MIN_INSYNC_REPLICAS)},
        },
    }


def service_secret(service: Service) -> dict[str, Any]:
    database = f"carepath_{service.name}"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": service.secret, "labels": service.labels},
        "type": "Opaque",
        "stringData": {
            "database-url": (
                f"postgresql+psycopg://{database}:{PLACEHOLDER}@postgresql.carepath-data.svc:5432/"
                f"{database}"
            ),
            "signing-key.pem": (
                f"{PLACEHOLDER}: the service's Ed25519 private key (PKCS#8 PEM), "
                "see deploy/README.md\n"
            ),
            **(
                {"oidc-client-secret": f"{PLACEHOLDER}: its client secret at the provider"}
                if service.name != KEY_SERVICE
                else {}
            ),
            **(
                {"csrf-key": f"{PLACEHOLDER}: 48 random bytes, base64 (openssl rand -base64 48)"}
                if service.name == "dashboard"
                else {}
            ),
        },
    }


PUBLIC_KEYS = "carepath-public-keys"
PUBLIC_KEYS_CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": PUBLIC_KEYS,
        "labels": {"app.kubernetes.io/part-of": PART_OF},
        "annotations": {
            "carepath.example/fill": "every service's <service>.pub and <service>.<keyid>.pub "
            "(current and retired signing keys): consumers check each record's signature with "
            "them; see deploy/README.md"
        },
    },
    "data": {},
}


KEK_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "carepath-kek", "labels": {"app.kubernetes.io/part-of": PART_OF}},
    "type": "Opaque",
    "stringData": {
        "kek": f"{PLACEHOLDER}: base64 of 32 random bytes (head -c32 /dev/urandom | base64), "
        "readable by intake only; a KMS in production (README, 'Patient data')"
    },
}

DEFAULT_DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "labels": {"app.kubernetes.io/part-of": PART_OF}},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


def base_kustomization() -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "carepath",
        "labels": [{"pairs": {"app.kubernetes.io/part-of": PART_OF}, "includeSelectors": False}],
        "resources": [
            "namespace.yaml",
            "network-default-deny.yaml",
            "secrets.yaml",
            "public-keys.yaml",
            "kafka-topics.yaml",
            "kafka-auditor.yaml",
            *(f"{s.name}.yaml" for s in SERVICES),
            "monitoring.yaml",  # needs the Prometheus Operator's CRDs (deploy/README.md)
        ],
        "configMapGenerator": [
            {"name": "carepath-common", "literals": _literals(COMMON_CONFIG)},
            *(
                {"name": f"carepath-{s.name}", "literals": _literals(configmap(s))}
                for s in SERVICES
            ),
        ],
    }


def _literals(values: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in values.items()]


NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "carepath", "labels": {"app.kubernetes.io/part-of": PART_OF}},
}


def production_secret_deletions() -> list[dict[str, Any]]:
    """The production overlay ships no Secret: the operator creates them (deploy/README.md)."""
    names = ["carepath-kek", *(s.secret for s in SERVICES)]
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "$patch": "delete"}
        for name in names
    ]


# ---------------------------------------------------------------------------------------- output
HEADER = "# GENERATED by deploy/k8s/generate.py from the service table and the topic registry.\n"


def _yaml(*documents: dict[str, Any]) -> str:
    body = "---\n".join(
        yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=100)
        for document in documents
    )
    return HEADER + body


def expected_files() -> dict[Path, str]:
    """Every generated file and its content."""
    # The chart, the monitoring files and the migrations are built from this module's table and
    # objects (they import it as `generate`), so they are imported here, once it is complete.
    from alert_cases import rules_test_file
    from grafana import dashboard_json
    from helm_chart import chart_files
    from helm_migrations import chart_migration_files
    from helm_monitoring import chart_monitoring_files
    from migrations import migrated_first
    from monitoring import dump_yaml, pod_monitor, prometheus_rule, rules_file

    files: dict[Path, str] = {}
    for service in SERVICES:
        files[DEPLOY / "docker" / f"{service.name}.Dockerfile"] = dockerfile(service)
        files[DEPLOY / "docker" / f"{service.name}.Dockerfile.dockerignore"] = DOCKERIGNORE
        # Kustomize migrates the database in an initContainer (migrations.py says why).
        objects = [migrated_first(service, deployment(service)), k8s_service(service), pdb(service)]
        if not service.singleton:
            objects.append(hpa(service))
        objects += [network_policy(service), kafka_user(service.name, service.labels)]
        files[BASE / f"{service.name}.yaml"] = _yaml(*objects)
    topics = (*ALL_TOPICS, *dead_letter_topics())
    files[BASE / "kafka-topics.yaml"] = _yaml(*(kafka_topic(t) for t in topics))
    files[BASE / "kafka-auditor.yaml"] = _yaml(kafka_user(AUDITOR, AUDITOR_LABELS))
    files[BASE / "secrets.yaml"] = _yaml(KEK_SECRET, *(service_secret(s) for s in SERVICES))
    files[BASE / "public-keys.yaml"] = _yaml(PUBLIC_KEYS_CONFIGMAP)
    files[BASE / "network-default-deny.yaml"] = _yaml(DEFAULT_DENY)
    files[BASE / "namespace.yaml"] = _yaml(NAMESPACE)
    files[BASE / "kustomization.yaml"] = _yaml(base_kustomization())
    production = DEPLOY / "k8s" / "overlays" / "production"
    files[production / "secrets-provided-by-operator.yaml"] = _yaml(*production_secret_deletions())
    files[BASE / "monitoring.yaml"] = dump_yaml(prometheus_rule(), pod_monitor())
    files[MONITORING / "carepath-rules.yaml"] = rules_file()
    files[MONITORING / "carepath-rules.test.yaml"] = rules_test_file()
    files[MONITORING / "grafana-carepath.json"] = dashboard_json()
    files.update(chart_files())
    files.update(chart_monitoring_files())
    files.update(chart_migration_files())
    return files


def main(argv: list[str]) -> int:
    stale = []
    for path, content in expected_files().items():
        if "--check" in argv:
            if not path.exists() or path.read_text() != content:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for path in stale:
        print(f"out of date: {path.relative_to(DEPLOY.parent)} (run deploy/k8s/generate.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
