"""Scale-out under a crash: two replicas of a consumer service on one PostgreSQL database in one
consumer group split the partitions; when one is killed, the other takes its partitions, and
nothing is lost or applied twice."""

import asyncio
import time
from collections.abc import Iterator

import pytest
from conftest import KillableBroker
from kafka import KafkaAdminClient
from system import ClinicSystem, TrialResult

from support import ServiceProcess, eventually

pytestmark = [pytest.mark.broker, pytest.mark.postgres]

GROUP = "carepath.dashboard"


def assignment(bootstrap: str) -> list[set[tuple[str, int]]]:
    """The partitions each member of the dashboard's consumer group holds now."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        group = admin.describe_groups([GROUP])[GROUP]
        if group["group_state"] != "Stable":
            return []
        return [
            {
                (assigned["topic"], partition)
                for assigned in member["member_assignment"]["assigned_partitions"]
                for partition in assigned["partitions"]
            }
            for member in group["members"]
        ]
    finally:
        admin.close()


@pytest.fixture
def replicated(
    fault_broker: KillableBroker, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ClinicSystem, ServiceProcess]]:
    """The system with its dashboard on PostgreSQL, and a second dashboard replica."""
    system = ClinicSystem(
        tmp_path_factory.mktemp("replicas"),
        fault_broker.bootstrap,
        databases={"dashboard": postgres_url},
    ).start()
    second = system.process("dashboard", suffix="-2").start()
    yield system, second
    second.stop()
    system.stop()


async def test_two_replicas_split_the_partitions_and_one_takes_over_when_the_other_dies(
    replicated: tuple[ClinicSystem, ServiceProcess],
    fault_broker: KillableBroker,
    fault_results: list[TrialResult],
) -> None:
    system, second = replicated
    split = await eventually(
        lambda: (members := assignment(fault_broker.bootstrap)) and len(members) == 2 and members,
        within=60,
        what="both replicas to hold partitions",
    )
    assert all(split) and not split[0] & split[1], split  # each holds its own share
    every = split[0] | split[1]

    cohort = asyncio.create_task(system.drive_cohort(patients=8, seed=41))
    grown = len(await asyncio.to_thread(system.stored_event_ids)) + 20
    await eventually(
        lambda: len(system.stored_event_ids()) >= grown, within=120, what="the cohort under way"
    )
    system.processes["dashboard"].kill()
    killed_at = time.monotonic()
    system.processes["dashboard"] = second  # the survivor serves from now on
    await eventually(
        lambda: assignment(fault_broker.bootstrap) == [every],
        within=90,
        what="the surviving replica to take every partition",
    )
    takeover = time.monotonic() - killed_at
    journeys = await cohort
    recovery = await system.settle(within=180)
    result = await asyncio.to_thread(
        system.verdict,
        f"2 replicas on PostgreSQL, kill one (takeover {takeover:.0f} s)",
        recovery,
        journeys,
    )
    fault_results.append(result)
    assert not result.problems(), result
