"""A service stops within its shutdown budget (`CAREPATH_SHUTDOWN_SECONDS`), every step
included, and the pods' grace period in deploy/ holds that budget with a margin: Kubernetes
never kills a service halfway through its last batch."""

import asyncio
import importlib
import sys
import time
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from carepath.chassis import runtime as runtime_module
from carepath.chassis.runtime import ServiceRuntime, ShutdownBudget
from carepath.chassis.settings import ServiceSettings
from support import ROOT


def generator() -> ModuleType:
    """deploy/k8s/generate.py, imported as tests/deploy imports it."""
    k8s = str(ROOT / "deploy" / "k8s")
    if k8s not in sys.path:
        sys.path.insert(0, k8s)
    return importlib.import_module("generate")


@pytest.mark.parametrize("total", [5, 20, 45, 600])
def test_the_steps_of_a_shutdown_share_its_budget_and_leave_a_margin(total: float) -> None:
    budget = ShutdownBudget(total)
    assert all(step > 0 for step in budget.steps())
    assert sum(budget.steps()) < total


def test_every_deployment_s_grace_period_holds_its_pre_stop_wait_and_shutdown_budget() -> None:
    generate = generator()
    for service in generate.SERVICES:
        pod = generate.deployment(service)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        pre_stop = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
        configured = ServiceSettings.model_validate(
            {**generate.configmap(service), "service_name": service.name}
        )
        shutdown = configured.shutdown_seconds
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + shutdown + 5, service.name


def test_uvicorn_waits_for_requests_in_flight_the_budget_s_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    told: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **options: told.update(options))
    settings = ServiceSettings(service_name="intake", shutdown_seconds=30)

    runtime_module.serve("carepath.intake.app:app", settings)

    assert told["timeout_graceful_shutdown"] == ShutdownBudget(30).requests_s


class Hanging:
    """A part that never finishes stopping (Kafka gone mid-shutdown)."""

    def __init__(self) -> None:
        self.outbox = SimpleNamespace(release_parked=self.nothing_parked)
        self.publishing = True

    async def nothing_parked(self) -> int:
        return 0

    def stop(self) -> None:
        pass

    async def close(self) -> None:
        await asyncio.Event().wait()


async def test_a_service_whose_parts_hang_stops_within_its_budget() -> None:
    runtime = ServiceRuntime.__new__(ServiceRuntime)  # its parts, without a database or Kafka
    hanging_broker = SimpleNamespace(stop=Hanging().close)
    runtime.__dict__.update(
        shutdown=ShutdownBudget(1.0),
        relay=Hanging(),
        broker=hanging_broker,
        broker_connected=asyncio.Event(),
        keys=object(),
        engine=SimpleNamespace(dispose=Hanging().nothing_parked),
        _tasks=[],
        _background=[],
    )

    async def at_head() -> None:
        pass

    async def relay_forever() -> None:  # connected, publishing a batch that is never answered
        runtime.broker_connected.set()
        await asyncio.Event().wait()

    runtime.__dict__.update(_schema_at_head=at_head, _connect_then_relay=relay_forever)

    stopping: list[float] = []

    async def run_then_stop() -> None:
        async with runtime.lifespan(FastAPI()):
            await runtime.broker_connected.wait()
            stopping.append(time.monotonic())

    await asyncio.wait_for(run_then_stop(), timeout=5)
    assert time.monotonic() - stopping[0] < 1.0  # the budget, uvicorn's share aside
