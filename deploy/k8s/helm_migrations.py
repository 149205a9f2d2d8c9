"""The chart's schema migrations: per service, templates/<service>-migration.yaml, a Job running
`carepath-migrate <service>` as a pre-install/pre-upgrade hook (the Job itself, and why the
Kustomize base uses an initContainer instead: migrations.py); templates/migrations.yaml, what
every Job shares.

What a hook Job reads must exist before it runs, and on the first install nothing of the release
does: Helm applies the release's objects only once the pre-install hooks have succeeded. So the
Job reads copies of the service's two ConfigMaps (`carepath-common-migration` and
`carepath-<service>-migration`: the same data, from the same functions as the ConfigMaps its
Deployment reads), made just before it with its NetworkPolicy, as hooks of a lower weight, and
deleted with it once every hook has succeeded. Copies, not the ConfigMaps themselves: a hook is no
part of the release, so Helm would delete and re-create them on every upgrade (under pods that
read them) and leave them behind on uninstall. DATABASE_URL comes from the service's own Secret,
which exists before the install (you create it; in dev the chart's placeholder Secret is a
pre-install hook, see helm_chart.service_config_file). The Job needs no Kafka: it reads no
KafkaUser Secret, which Strimzi writes only after the install.
"""

from pathlib import Path
from typing import Any

from generate import PART_OF, SERVICES, Service, database_egress, deployment
from helm_chart import (
    TEMPLATES,
    Document,
    common_config_data,
    config_map,
    container_from_values,
    service_config_data,
    template_file,
)
from helm_fills import Fills
from migrations import (
    COMPONENT,
    JOB_WEIGHT,
    READS_WEIGHT,
    hook,
    migration_job,
    migration_network_policy,
)

VALUES = ".Values.migrations"
COPY_LABELS = {"app.kubernetes.io/component": COMPONENT, "app.kubernetes.io/part-of": PART_OF}


def copy_of(config_map_name: str) -> str:
    """The name of the hook's copy of a ConfigMap."""
    return f"{config_map_name}-{COMPONENT}"


def _read_before_the_job(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["annotations"] = hook(READS_WEIGHT)
    return obj


def job_template(service: Service, fills: Fills) -> dict[str, Any]:
    """The service's migration Job, its image, resources and database Secret from the values."""
    job = migration_job(service, deployment(service))
    job["metadata"]["annotations"] = hook(JOB_WEIGHT)
    spec = job["spec"]
    for field in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        spec[field] = fills.value(f"{VALUES}.{field}")
    (container,) = spec["template"]["spec"]["containers"]
    container_from_values(container, fills)
    for source in container["envFrom"]:
        source["configMapRef"]["name"] = copy_of(source["configMapRef"]["name"])
    return job


def migration_file(service: Service) -> str:
    fills = Fills()
    name = copy_of(f"carepath-{service.name}")
    settings = config_map(name, dict(COPY_LABELS), service_config_data(service, fills))
    documents = [Document(_read_before_the_job(settings)), Document(job_template(service, fills))]
    return _generated_here(template_file(fills, documents, service=service))


def shared_file() -> str:
    """The copy of carepath-common, and the NetworkPolicy of every migration pod."""
    fills = Fills()
    common = config_map(copy_of("carepath-common"), dict(COPY_LABELS), common_config_data(fills))
    policy = migration_network_policy()
    egress = policy["spec"]["egress"]
    assert egress[0] == database_egress(), "migration_network_policy() changed its rules"
    egress[0] = fills.splice("list .Values.database.egress")  # where PostgreSQL is: the values'
    documents = [Document(_read_before_the_job(common)), Document(_read_before_the_job(policy))]
    return _generated_here(template_file(fills, documents))


def _generated_here(text: str) -> str:
    return text.replace("(helm_chart.py)", "(helm_migrations.py)", 1)


def chart_migration_files() -> dict[Path, str]:
    files = {TEMPLATES / "migrations.yaml": shared_file()}
    for service in SERVICES:
        files[TEMPLATES / f"{service.name}-migration.yaml"] = migration_file(service)
    return files
