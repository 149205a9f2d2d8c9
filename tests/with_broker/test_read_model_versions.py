"""Versions of the dashboard's read models: a new version builds its own tables from offset 0
while the old one keeps serving, reports not ready until it has caught up, then takes over; the
old version's tables are pruned afterwards, the active version's never.

Both versions are the same code run as two versions (`CAREPATH_PROJECTION_VERSION`, for
side-by-side rebuilds), on one PostgreSQL database; once the new one serves, the old one's pods
report not ready. Their numbers are drawn at random: the
session's own dashboard (version 1) reads the same broker under `carepath.dashboard`, and a new
version's consumer group must start with nothing committed."""

import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import pytest
from clinic import Coordinator
from sqlalchemy import create_engine, inspect, text

from carepath.chassis.auth import Role
from support import ROOT, TEST_VAR, ServiceProcess, identity_env, token, wait_until

pytestmark = pytest.mark.broker


def dashboard(
    version: int, database_url: str, kafka: str, intake: ServiceProcess, folder: Path
) -> ServiceProcess:
    work = folder / f"v{version}"
    work.mkdir()
    return ServiceProcess(
        f"dashboard-v{version}",
        "carepath.dashboard.app:create_app",
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "DATABASE_URL": database_url,
            "CAREPATH_VAR_DIR": str(work),
            **identity_env(),
            "CAREPATH_KEYS_DIR": str(TEST_VAR / "keys"),  # where the services under test publish
            "CAREPATH_KEY_SERVICE_URL": intake.url,
            "CAREPATH_PROJECTION_VERSION": str(version),
        },
        work,
    )


def summary(service: ServiceProcess) -> dict[str, Any]:
    response = httpx.get(
        f"{service.url}/api/summary", headers=token(Role.CLINICIAN, "dr-versions"), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def read_models(answer: dict[str, Any]) -> dict[str, Any]:
    """What a summary shows of the pathway (not when it was made, nor the lag; nor the alerts,
    which the services' timed sweeps of earlier tests may still add to)."""
    return {key: answer[key] for key in ("funnel", "discontinued")}


def caught_up(service: ServiceProcess) -> dict[str, Any] | None:
    answer = summary(service)
    return answer if answer["lag"] and all(row["lag"] == 0 for row in answer["lag"]) else None


def readiness(service: ServiceProcess) -> httpx.Response | None:
    try:
        return httpx.get(f"{service.url}/readyz", timeout=5)
    except httpx.HTTPError:
        return None  # not listening yet


def not_ready(service: ServiceProcess) -> httpx.Response | None:
    answer = readiness(service)
    return answer if answer is not None and answer.status_code == 503 else None


def states(database_url: str) -> dict[int, str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version, state FROM read_model_version"))
            return {version: state for version, state in rows}
    finally:
        engine.dispose()


def prune(database_url: str, kafka: str, *versions: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carepath.dashboard.cli", "prune-read-models"]
        + [str(v) for v in versions]
        + ["--database", database_url],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_a_new_version_builds_beside_the_old_one_and_takes_over_when_caught_up(
    intake_service: ServiceProcess, kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    old = random.randrange(2, 1_000_000)
    new = old + 1
    serving = dashboard(old, postgres_url, kafka_bootstrap, intake_service, tmp_path).start()
    building = dashboard(new, postgres_url, kafka_bootstrap, intake_service, tmp_path)
    try:
        coordinator = Coordinator(intake_service.url)
        patients = [coordinator.refer() for _ in range(3)]
        for patient in patients:
            wait_until(
                lambda p=patient: (
                    httpx.get(
                        f"{serving.url}/api/patients/{p}/timeline", headers=token(Role.NURSE)
                    ).status_code
                    == 200
                ),
                timeout=60,
                what=f"v{old} to project patient {patient}",
            )
        before = read_models(wait_until(lambda: caught_up(serving), timeout=60, what=f"v{old}"))
        assert states(postgres_url) == {old: "active"}  # the first version serves at once

        # The new version cannot apply anything while the inbox is locked: it stays behind.
        engine = create_engine(postgres_url)
        with engine.connect() as blocker, ThreadPoolExecutor(1) as pool:
            blocker.execute(text("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE"))
            started = pool.submit(building.start, 240)
            first = wait_until(
                lambda: readiness(building), timeout=120, what=f"v{new} to answer /readyz"
            )
            assert first.status_code == 503, first.text
            assert f"read models v{new}" in first.json()["checks"]["read_models"]
            wait_until(
                lambda: states(postgres_url).get(new) == "building",
                timeout=30,
                what=f"v{new} recorded as building",
            )
            assert read_models(summary(serving)) == before  # the old version still serves
            blocker.rollback()  # the lock goes: the new version builds

            answers = 0
            while not wait([started], timeout=0.1).done:  # the old version answers throughout
                assert read_models(summary(serving)) == before
                answers += 1
            started.result()
            assert answers > 0
        engine.dispose()

        assert readiness(building).status_code == 200  # type: ignore[union-attr]
        assert read_models(summary(building)) == before
        assert states(postgres_url) == {old: "retired", new: "active"}
        # The old version's pods stop serving: never two versions' answers at once.
        retired = wait_until(lambda: not_ready(serving), timeout=30, what=f"v{old} not ready")
        assert f"read models v{old} are retired" in retired.json()["checks"]["read_models"]

        refused = prune(postgres_url, kafka_bootstrap, new)
        assert refused.returncode == 1 and "active" in refused.stderr, refused.stderr
        still_read = prune(postgres_url, kafka_bootstrap, old)
        assert still_read.returncode == 1 and "still being read" in still_read.stderr

        serving.stop()
        pruned = prune(postgres_url, kafka_bootstrap)
        assert pruned.returncode == 0 and f"v{old}" in pruned.stderr, pruned.stderr
        engine = create_engine(postgres_url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert not {t for t in tables if t.endswith(f"_v{old}")}
        assert {f"dash_patient_v{new}", f"dash_timeline_v{new}"} <= tables
        assert states(postgres_url) == {new: "active"}
        assert read_models(summary(building)) == before
    finally:
        serving.stop()
        building.stop()
