"""Rows 5 and 6 with the services running: HTTP write throughput, end-to-end latency (an HTTP
referral's response until the dashboard's read model shows the patient), and resident memory.

Intake and the dashboard run as their own processes (as in production) on the bench's broker.
The dashboard's read model is polled in its SQLite file every 5 ms, so latencies are accurate
to about 5 ms.
"""

import asyncio
import sqlite3
import statistics
import time
from pathlib import Path
from uuid import UUID

import httpx
from servers import BENCH_VAR

from carepath.chassis.auth import Role
from support import ServiceProcess, identity_env, token

REFERRAL = {
    "given_name": "Bench",
    "family_name": "Patient",
    "date_of_birth": "1980-01-01",
    "referral_reason": "depression",
    "referrer": "Dr Bench",
}


def start_services(bootstrap: str) -> dict[str, ServiceProcess]:
    work = BENCH_VAR / "services"
    work.mkdir(parents=True, exist_ok=True)
    services = {}
    for name in ("intake", "dashboard"):
        (work / f"{name}.db").unlink(missing_ok=True)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": f"sqlite:///{work / f'{name}.db'}",
            "CAREPATH_VAR_DIR": str(work),
            "CAREPATH_KEYS_DIR": str(work / "keys"),
            **identity_env(),
        }
        services[name] = ServiceProcess(name, f"carepath.{name}.app:create_app", env, work).start()
    return services


def rss_mb(service: ServiceProcess) -> float:
    """Resident memory of the service's process (MB)."""
    pid = service._process.pid  # type: ignore[union-attr]
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def http_throughput(intake: ServiceProcess, count: int, clients: int) -> float:
    """Referrals per second over HTTP with `clients` concurrent connections."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            (await http.post("/patients", json=REFERRAL)).raise_for_status()

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(
        base_url=intake.url, headers=token(Role.INTAKE_COORDINATOR), limits=limits, timeout=60
    ) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return count / (time.perf_counter() - started)


async def latency(
    intake: ServiceProcess, dashboard_db: Path, rate: float, seconds: float
) -> list[float]:
    """Latencies (ms) from each referral's HTTP response to the patient in the dashboard's read
    model, with referrals sent at `rate` per second for `seconds`."""
    answered: dict[str, float] = {}
    shown: dict[str, float] = {}
    count = int(rate * seconds)

    async def refer(http: httpx.AsyncClient, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))  # pacing, not synchronisation
        response = await http.post("/patients", json=REFERRAL)
        answered[UUID(response.json()["patient_id"]).hex] = time.perf_counter()

    async def watch(done: asyncio.Event) -> None:
        database = sqlite3.connect(f"file:{dashboard_db}?mode=ro", uri=True)
        try:
            while not done.is_set() or len(shown) < len(answered):
                waiting = [p for p in answered if p not in shown]
                for chunk in range(0, len(waiting), 500):
                    ids = waiting[chunk : chunk + 500]
                    marks = ",".join("?" * len(ids))
                    for (patient,) in database.execute(
                        f"SELECT patient_id FROM dash_patient WHERE patient_id IN ({marks})",  # noqa: S608 (placeholders only)
                        ids,
                    ):
                        shown.setdefault(patient, time.perf_counter())
                await asyncio.sleep(0.005)
                if done.is_set() and time.perf_counter() - last[0] > 60:
                    break  # give up on stragglers after a minute
        finally:
            database.close()

    last = [time.perf_counter()]
    done = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=intake.url,
        headers=token(Role.INTAKE_COORDINATOR),
        timeout=60,
        limits=httpx.Limits(max_connections=64),
    ) as http:
        watcher = asyncio.create_task(watch(done))
        start = time.perf_counter()
        await asyncio.gather(*(refer(http, start + i / rate) for i in range(count)))
        last[0] = time.perf_counter()
        done.set()
        await watcher
    return [(shown[p] - answered[p]) * 1000 for p in answered if p in shown]


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]
