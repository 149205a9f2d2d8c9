"""The figures `/metrics` gathers at each scrape: a consumer whose lag does not come in time
reports no partitions, rather than the ones it held before (a rebalance may have moved them)."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from carepath.chassis import metrics
from carepath.chassis.runtime import ServiceRuntime

Lag = dict[tuple[str, int, str], int]
INTAKE_EVENTS = "carepath.intake.events"


class Consumer:
    """A consumer whose lag comes at once (`lag`), or never (`None`: Kafka does not answer)."""

    def __init__(self, lag: Lag | None) -> None:
        self._lag = lag

    async def lag(self) -> Lag:
        if self._lag is None:
            await asyncio.Event().wait()
        return dict(self._lag or {})


class Outbox:
    async def backlog(self) -> tuple[int, datetime | None]:
        return 0, None

    async def count_parked(self) -> int:
        return 0


def runtime(*consumers: Consumer) -> Any:
    """What `gather_figures` reads of a runtime; Kafka still connecting."""
    return SimpleNamespace(
        relay=SimpleNamespace(outbox=Outbox()),
        consumers=list(consumers),
        broker_connected=asyncio.Event(),
        figure_deadline_s=0.2,
    )


@pytest.fixture(autouse=True)
def gauges() -> Iterator[metrics.Gauges]:
    """The process's gauges, put back as they were after the test."""
    before = dict(metrics.gauges.consumer_lag)
    yield metrics.gauges
    metrics.gauges.consumer_lag = before


async def test_a_consumer_whose_lag_times_out_reports_no_stale_partitions(
    gauges: metrics.Gauges,
) -> None:
    gauges.consumer_lag = {
        (INTAKE_EVENTS, 0, "eligibility"): 7,  # held before a rebalance, by the one now silent
        (INTAKE_EVENTS, 1, "dashboard"): 3,
    }
    answering = Consumer({(INTAKE_EVENTS, 1, "dashboard"): 0})

    await ServiceRuntime.gather_figures(runtime(Consumer(None), answering))

    assert gauges.consumer_lag == {(INTAKE_EVENTS, 1, "dashboard"): 0}
    assert gauges.outbox_backlog == 0 and gauges.outbox_oldest_age_s == 0.0


async def test_no_consumer_answering_reports_no_lag_at_all(gauges: metrics.Gauges) -> None:
    gauges.consumer_lag = {(INTAKE_EVENTS, 0, "eligibility"): 7}
    started = datetime.now(UTC)

    await ServiceRuntime.gather_figures(runtime(Consumer(None)))

    assert gauges.consumer_lag == {}
    assert (datetime.now(UTC) - started).total_seconds() < 2  # within the scrape's deadline
