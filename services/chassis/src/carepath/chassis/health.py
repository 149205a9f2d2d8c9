"""`/healthz` (the process is up; how Kafka is), `/readyz` (it can take commands) and `/metrics`
(Prometheus; see `carepath.chassis.metrics`). None of them asks for a token: probes and
Prometheus call them, and they tell nothing about patients.

Readiness means the database answers, not Kafka: the outbox lets commands succeed while the broker
is away, and their events follow when it returns. A broker outage must not take every pod out
of its Service (nurses could no longer chart vitals). Kafka's state is reported by `/healthz`
instead, with the outbox backlog and parked events in `/readyz`, for operators and probes alike.
"""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from carepath.chassis.metrics import CONTENT_TYPE_LATEST, exposition

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    """Liveness: the process answers (always 200); `kafka` says whether the broker does."""
    return {"status": "ok", "kafka": await kafka_state(request.app.state.runtime)}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when the database answers (commands can be taken) and every check the
    service added (`ServiceRuntime.readiness_checks`) passes, else 503."""
    runtime = request.app.state.runtime
    database = await _database_state(runtime)
    checks: dict[str, str] = {"database": database}
    for name, check in runtime.readiness_checks.items():
        if (problem := check()) is not None:
            checks[name] = problem
    ready = database == "ok" and len(checks) == 1
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    if database == "ok":
        outbox = runtime.relay.outbox
        body["outbox"] = {
            "backlog": await outbox.count_unpublished(),
            "parked": await outbox.count_parked(),
        }
    return JSONResponse(body, 200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Every metric of this service, in the Prometheus text format, its gauges brought up to
    date first."""
    await request.app.state.runtime.gather_figures()
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)


async def _database_state(runtime: Any) -> str:
    try:
        await asyncio.wait_for(_select_1(runtime), timeout=2)  # connecting included
        return "ok"
    except Exception as error:
        return f"unreachable: {type(error).__name__}"


async def _select_1(runtime: Any) -> None:
    async with runtime.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def kafka_state(runtime: Any) -> str:
    """`ok`, `connecting`, or `unreachable: <error class>`."""
    if not runtime.broker_connected.is_set():
        return "connecting"
    try:
        # Bounded: a liveness probe must answer within its own timeout (3 s in deploy/).
        answered = await asyncio.wait_for(runtime.broker.ping(timeout=1), timeout=1.5)
        return "ok" if answered else "unreachable"
    except Exception as error:
        return f"unreachable: {type(error).__name__}"
