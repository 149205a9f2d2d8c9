"""Group commit (`carepath.chassis.group_commit`), on SQLite and on PostgreSQL: commands that
arrive together are written in one transaction, yet each keeps what it would have alone: its
own events, its stream's order and chain, its own failure, no lost write between replicas."""

import asyncio
from datetime import date
from itertools import pairwise
from uuid import UUID, uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from carepath.chassis.decider import Decider
from carepath.chassis.errors import ConcurrencyError, RuleViolation
from carepath.chassis.evidence import digest
from carepath.chassis.group_commit import GroupCommit
from carepath.chassis.patient_keys import KeyEncryptionKey, PatientKeys
from carepath.chassis.store import EventMetadata, EventStore
from carepath.contracts import DomainEvent, PatientReferred

METADATA = EventMetadata(source="/carepath/intake", actor="clinician:dr-group", correlation_id="g")
KEK = KeyEncryptionKey("group-commit", bytes(range(32)))
REFUSE = "refuse"

Names = tuple[str, ...]


def _decide(state: Names, command: tuple[UUID, str]) -> list[DomainEvent]:
    patient, name = command
    if name == REFUSE:
        raise RuleViolation("this command is refused")
    return [
        PatientReferred(
            patient_id=patient,
            given_name=name,
            family_name="Group",
            date_of_birth=date(1980, 5, 17),
            referral_reason="depression",  # type: ignore[arg-type]
            referrer="Dr Referrer",
        )
    ]


def _evolve(state: Names, event: DomainEvent) -> Names:
    return (*state, event.given_name)  # type: ignore[attr-defined]


NAMES = Decider(decide=_decide, evolve=_evolve, initial_state=())


def commits_on(engine: AsyncEngine) -> GroupCommit:
    store = EventStore(engine, keys=PatientKeys(engine, KEK))
    return GroupCommit(store)


async def run(commits: GroupCommit, patient: UUID, name: str, also: object = None) -> Names:
    decision = await commits.handle(
        NAMES,
        f"intake-{patient}",
        (patient, name),
        subject=str(patient),
        metadata=METADATA,
        also=also,  # type: ignore[arg-type]
    )
    assert len(decision.recorded) == 1 and decision.recorded[0].position
    return decision.state  # type: ignore[no-any-return]


async def test_commands_that_arrive_together_are_written_together_each_with_its_events(
    engine: AsyncEngine,
) -> None:
    commits, patients = commits_on(engine), [uuid4() for _ in range(20)]

    states = await asyncio.gather(*(run(commits, p, f"P{n}") for n, p in enumerate(patients)))

    assert states == [(f"P{n}",) for n in range(20)]
    assert commits.commands_written == 20 and commits.groups_written < 20
    for n, patient in enumerate(patients):
        [stored] = await commits.store.load(f"intake-{patient}")
        assert (stored.sequence, stored.event().given_name) == (1, f"P{n}")  # type: ignore[attr-defined]
        assert stored.payload["given_name"].startswith("enc:v1:")  # sealed with its own key


async def test_commands_on_one_stream_in_one_group_see_each_other_and_chain(
    engine: AsyncEngine,
) -> None:
    commits, patient = commits_on(engine), uuid4()

    states = await asyncio.gather(*(run(commits, patient, name) for name in "ABCDE"))

    assert states[-1] == tuple("ABCDE")
    stream = await commits.store.load(f"intake-{patient}")
    assert [e.sequence for e in stream] == [1, 2, 3, 4, 5]
    assert stream[0].prevhash is None
    for before, after in pairwise(stream):
        assert after.prevhash == digest(before.to_cloud_event())


async def test_a_refused_command_fails_alone_and_writes_nothing(engine: AsyncEngine) -> None:
    commits, patient, other = commits_on(engine), uuid4(), uuid4()

    outcomes = await asyncio.gather(
        run(commits, patient, "A"),
        run(commits, patient, REFUSE),
        run(commits, patient, "B"),
        run(commits, other, "C"),
        return_exceptions=True,
    )

    assert isinstance(outcomes[1], RuleViolation)
    assert outcomes[0] == ("A",) and outcomes[2] == ("A", "B") and outcomes[3] == ("C",)
    assert await commits.store.version(f"intake-{patient}") == 2


async def test_a_failing_also_fails_only_its_own_command(engine: AsyncEngine) -> None:
    commits, patients = commits_on(engine), [uuid4() for _ in range(4)]

    async def breaks(_session: AsyncSession, _state: Names) -> None:
        raise ValueError("the lookup table refused it")

    outcomes = await asyncio.gather(
        *(
            run(commits, p, f"P{n}", also=breaks if n == 2 else None)
            for n, p in enumerate(patients)
        ),
        return_exceptions=True,
    )

    assert isinstance(outcomes[2], ValueError)
    assert [outcomes[n] for n in (0, 1, 3)] == [("P0",), ("P1",), ("P3",)]
    assert [await commits.store.version(f"intake-{p}") for p in patients] == [1, 1, 0, 1]


@pytest.mark.parametrize("commands", [24])
async def test_two_replicas_writing_one_stream_lose_no_write(
    engine: AsyncEngine, commands: int
) -> None:
    replicas, patient = [commits_on(engine), commits_on(engine)], uuid4()

    async def with_retries(commits: GroupCommit, name: str) -> None:
        for _ in range(commands):  # as the runtime does: decide again on the new state
            try:
                await run(commits, patient, name)
                return
            except ConcurrencyError:
                continue
        raise AssertionError(f"{name} never got through")

    await asyncio.gather(*(with_retries(replicas[n % 2], f"N{n}") for n in range(commands)))

    stream = await replicas[0].store.load(f"intake-{patient}")
    assert [e.sequence for e in stream] == list(range(1, commands + 1))
    assert sorted(e.event().given_name for e in stream) == sorted(  # type: ignore[attr-defined]
        f"N{n}" for n in range(commands)
    )


async def test_a_stream_another_replica_wrote_first_is_a_conflict_for_its_command(
    engine: AsyncEngine,
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: the second replica waits, no conflict")
    first, second, patient = commits_on(engine), commits_on(engine), uuid4()
    reached, go_on = asyncio.Event(), asyncio.Event()

    async def held_open(_session: AsyncSession, _state: Names) -> None:
        reached.set()  # the first replica has read the stream at version 1
        await go_on.wait()

    await run(first, patient, "Z")  # the patient and their key exist
    late = asyncio.create_task(run(first, patient, "A", also=held_open))
    await asyncio.wait_for(reached.wait(), timeout=30)
    assert await run(second, patient, "B") == ("Z", "B")  # written first, at version 1
    go_on.set()

    with pytest.raises(ConcurrencyError):
        await asyncio.wait_for(late, timeout=30)
    stream = await first.store.load(f"intake-{patient}")
    assert [e.event().given_name for e in stream] == ["Z", "B"]  # type: ignore[attr-defined]
