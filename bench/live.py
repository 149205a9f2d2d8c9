"""Rows 5 and 6 with the services running: HTTP write throughput, end-to-end latency (an HTTP
referral's response until the dashboard's read model shows the patient), and resident memory.

Intake and the dashboard run as their own processes (as in production) on the bench's broker.
Each latency stage starts from a quiet system (intake's outbox empty, the dashboard's lag 0) and
says how long that took. The watcher waits on the dashboard's own notification (its server-sent
`update` events, sent when a batch is applied), then looks up which patients its read model
shows; a coarse poll (every 0.25 s) backs it up. Every wait has a deadline, and a stage that
gives up reports what it saw.
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

CONNECTIONS = 64  # the latency driver's concurrent requests
REFERRAL = {
    "given_name": "Bench",
    "family_name": "Patient",
    "date_of_birth": "1980-01-01",
    "referral_reason": "depression",
    "referrer": "Dr Bench",
}


def start_services(
    bootstrap: str, intake_database: str, dashboard_database: str
) -> dict[str, ServiceProcess]:
    """Intake and the dashboard on fresh databases (the watcher reads the dashboard's)."""
    work = BENCH_VAR / "services"
    work.mkdir(parents=True, exist_ok=True)
    services = {}
    for name in ("intake", "dashboard"):
        (work / f"{name}.db").unlink(missing_ok=True)
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": intake_database if name == "intake" else dashboard_database,
            "CAREPATH_VAR_DIR": str(work),
            # the keys of the stages before: the dashboard checks the signatures of the events
            # they left on the topics (intake keeps the same key)
            "CAREPATH_KEYS_DIR": str(BENCH_VAR / "keys"),
            "CAREPATH_MIGRATE_ON_START": "true",  # a fresh database each run
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


class StageTimeout(RuntimeError):
    """A stage passed its deadline; the message says what it saw."""


async def quiet(intake: ServiceProcess, dashboard: ServiceProcess, deadline_s: float) -> float:
    """Wait until intake's outbox is empty and the dashboard has consumed everything (lag 0);
    the seconds it took. Polls every 0.5 s: this wait is not measured."""
    started = time.perf_counter()
    seen: dict[str, object] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        while time.perf_counter() - started < deadline_s:
            ready = (await http.get(f"{intake.url}/readyz")).json()
            summary = await http.get(f"{dashboard.url}/api/summary", headers=token(Role.AUDITOR))
            lag = sum(entry["lag"] for entry in summary.json().get("lag", []))
            seen = {"outbox": ready.get("outbox"), "dashboard lag": lag}
            if ready.get("outbox", {}).get("backlog") == 0 and lag == 0:
                return time.perf_counter() - started
            await asyncio.sleep(0.5)
    raise StageTimeout(f"not quiet after {deadline_s:.0f} s: {seen}")


async def latency(
    intake: ServiceProcess, dashboard: ServiceProcess, rate: float, seconds: float
) -> tuple[list[float], int]:
    """Latencies (ms) from each referral's HTTP response to the patient in the dashboard's read
    model, with referrals sent at `rate` per second for `seconds`; and how many were sent.
    Patients not shown within 60 s of the last response are left out (the caller reports how
    many were seen)."""
    answered: dict[str, float] = {}
    shown: dict[str, float] = {}
    failed: list[str] = []
    count = int(rate * seconds)
    database_path = dashboard.log_path.parent / "dashboard.db"

    in_flight = asyncio.Semaphore(CONNECTIONS)

    async def refer(http: httpx.AsyncClient, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))  # pacing, not synchronisation
        # At most one request per connection: thousands queued in httpx's pool cost the driver
        # a core (its queue is scanned per request) and it, not intake, set the pace.
        async with in_flight:
            try:
                response = await http.post("/patients", json=REFERRAL)
                response.raise_for_status()
            except httpx.HTTPError as error:  # counted and reported, not fatal to the stage
                failed.append(type(error).__name__)
                return
        answered[UUID(response.json()["patient_id"]).hex] = time.perf_counter()

    def look(database: sqlite3.Connection) -> None:
        now = time.perf_counter()
        waiting = [p for p in answered if p not in shown]
        for chunk in range(0, len(waiting), 500):
            ids = waiting[chunk : chunk + 500]
            marks = ",".join("?" * len(ids))
            for (patient,) in database.execute(
                f"SELECT patient_id FROM dash_patient WHERE patient_id IN ({marks})",  # noqa: S608 (placeholders only)
                ids,
            ):
                shown.setdefault(patient, now)

    async def watch(sending: asyncio.Task[None]) -> None:
        database = sqlite3.connect(f"file:{database_path}?mode=ro", uri=True)
        updated = asyncio.Event()

        async def listen() -> None:  # the dashboard says when its read models changed
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as http,
                http.stream("GET", f"{dashboard.url}/stream", headers=token(Role.AUDITOR)) as sse,
            ):
                async for line in sse.aiter_lines():
                    if line.startswith("event: update"):
                        updated.set()

        listener = asyncio.create_task(listen())
        try:
            give_up = float("inf")
            while time.perf_counter() < give_up:
                try:
                    await asyncio.wait_for(updated.wait(), timeout=0.25)
                except TimeoutError:
                    pass
                updated.clear()
                look(database)
                if sending.done() and give_up == float("inf"):
                    give_up = time.perf_counter() + 60  # stragglers: a minute at most
                if sending.done() and len(shown) >= len(answered):
                    break
        finally:
            listener.cancel()
            database.close()

    async with httpx.AsyncClient(
        base_url=intake.url,
        headers=token(Role.INTAKE_COORDINATOR),
        timeout=30,
        limits=httpx.Limits(max_connections=CONNECTIONS),
    ) as http:
        start = time.perf_counter()
        sending = asyncio.ensure_future(
            asyncio.gather(*(refer(http, start + i / rate) for i in range(count)))
        )
        watcher = asyncio.create_task(watch(sending))  # type: ignore[arg-type]
        try:
            await asyncio.wait_for(asyncio.shield(sending), timeout=seconds + 120)
        except TimeoutError:
            sending.cancel()
        await watcher
    if failed:
        print(f"  {len(failed)} referrals failed: {', '.join(sorted(set(failed)))}")
    return [(shown[p] - answered[p]) * 1000 for p in answered if p in shown], count


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]
