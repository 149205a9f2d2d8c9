"""`/healthz` (the process is up) and `/readyz` (its database and Kafka answer)."""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when the database and Kafka both answer, else 503 naming what is down."""
    runtime = request.app.state.runtime
    database, kafka = await asyncio.gather(_database_ok(runtime), _kafka_ok(runtime))
    checks: dict[str, Any] = {"database": database, "kafka": kafka}
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )


async def _database_ok(runtime: Any) -> str:
    try:
        async with runtime.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=2)
        return "ok"
    except Exception as error:
        return f"unreachable: {type(error).__name__}"


async def _kafka_ok(runtime: Any) -> str:
    if not runtime.broker_connected.is_set():
        return "connecting"
    try:
        return "ok" if await runtime.broker.ping(timeout=2) else "unreachable"
    except Exception as error:
        return f"unreachable: {type(error).__name__}"
