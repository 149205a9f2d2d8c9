"""deploy/compose.yaml runs every service from its own Dockerfile, next to Kafka and PostgreSQL."""

from pathlib import Path
from types import ModuleType

import yaml
from conftest import DEPLOY

from carepath.chassis.evidence import dev_key_file
from support import ROOT


def test_compose_runs_every_service_on_its_port_with_its_own_database(
    generator: ModuleType,
) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert compose["kafka"]["image"].startswith("apache/kafka:")
    assert compose["postgres"]["image"] == "postgres:16"
    init = (DEPLOY / "compose" / "postgres-init.sql").read_text()
    for service in generator.SERVICES:
        entry = compose[service.name]
        assert (ROOT / entry["build"]["dockerfile"]).exists()
        assert entry["ports"] == [f"127.0.0.1:{service.port}:{service.port}"]
        database = f"carepath_{service.name}"
        assert entry["environment"]["DATABASE_URL"].endswith(f"@postgres:5432/{database}")
        assert f"CREATE DATABASE {database} OWNER {database};" in init
    assert compose["dashboard"]["ports"] == ["127.0.0.1:8000:8000"]


def test_each_service_keeps_its_signing_key_on_a_volume_no_other_service_mounts(
    generator: ModuleType,
) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    mounts = {
        service.name: dict(
            reversed(volume.split(":")[:2]) for volume in compose[service.name]["volumes"]
        )
        for service in generator.SERVICES
    }  # service -> {mount path: volume}
    keys_dir = Path("/var/lib/carepath/keys")  # the images' CAREPATH_KEYS_DIR
    for service, volumes in mounts.items():
        assert "CAREPATH_KEYS_DIR" not in compose[service]["environment"]
        assert "CAREPATH_SIGNING_KEY_FILE" not in compose[service]["environment"]
        dockerfile = (ROOT / compose[service]["build"]["dockerfile"]).read_text()
        assert f"CAREPATH_KEYS_DIR={keys_dir}" in dockerfile
        private_key = dev_key_file(service, keys_dir)
        # the mount the key file lands on: the longest mount path that holds it
        holder = max(
            (Path(path) for path in volumes if private_key.is_relative_to(path)),
            key=lambda path: len(path.parts),
        )
        own = volumes[str(holder)]
        others = {v for name, vs in mounts.items() if name != service for v in vs.values()}
        assert own not in others, f"{service}'s private key is on {own}, which others mount"
        assert volumes[str(keys_dir)] == "public-keys"  # shared: public keys only
        assert not private_key.is_relative_to(keys_dir)


def test_each_service_starts_only_once_its_own_migration_succeeded(
    generator: ModuleType,
) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    migrations = {name for name in compose if name.endswith("-migrate")}
    assert migrations == {f"{s.name}-migrate" for s in generator.SERVICES}
    for service in generator.SERVICES:
        entry, migration = compose[service.name], compose[f"{service.name}-migrate"]
        assert entry["depends_on"][f"{service.name}-migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert {"topics", "postgres", "issuer"} <= set(entry["depends_on"])
        assert migration["command"] == ["carepath-migrate", service.name]
        assert migration["image"] == entry["image"]
        assert migration["environment"] == entry["environment"]
        assert migration["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert migration["restart"] == "no", "one run; a failure stops the service's start"
        assert migration["read_only"] and "volumes" not in migration, "the database alone"


def test_compose_gives_each_service_its_whole_shutdown_budget(generator: ModuleType) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for service in generator.SERVICES:
        grace = compose[service.name]["stop_grace_period"]
        assert grace.endswith("s") and int(grace[:-1]) > generator.SHUTDOWN_SECONDS, service.name
