"""What becomes of a version of the read models that no longer serves: an operator reinstates it
(a rollback: `carepath-dashboard reinstate-read-models`), or drops its tables (a prune:
`carepath-dashboard prune-read-models`). Both under the versions' lock (`versions.lock`)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from carepath.chassis.dead_letters import DeadLetterRecord
from carepath.chassis.inbox import InboxRecord
from carepath.dashboard.versions import (
    PROJECTION,
    ProjectionVersion,
    ReadModelVersion,
    Recorded,
    State,
    lock,
    recorded_versions,
    row_of,
)


class VersionInUse(RuntimeError):
    """A version's tables cannot be dropped: it is the active one, or it still runs."""


class NotReinstatable(ValueError):
    """A version cannot be made to serve again: it is not recorded, or it never served."""


async def reinstate(engine: AsyncEngine, version: ProjectionVersion) -> None:
    """An operator's rollback: `version`, retired after it served, serves again at once (its
    tables as it left them; its consumer group catches up from where it stopped), and every other
    version retires, building ones included (a newer version must not take over by itself).
    Refused for a version that never served (pruned and built again, or still building)."""
    async with engine.begin() as connection:
        await connection.run_sync(lock)
        recorded = await recorded_versions(connection)
        known = recorded.get(version.number)
        if known is None or not known.served:
            why = "are not recorded" if known is None else "never served: they may be incomplete"
            raise NotReinstatable(
                f"read models v{version.number} {why} (recorded: {_listed(recorded)}). To roll "
                "back to their code, run it with CAREPATH_PROJECTION_VERSION set to a version "
                "never used: it builds beside the active one, and takes over once caught up"
            )
        at = datetime.now(UTC)
        await connection.execute(
            update(ReadModelVersion)
            .where(
                col(ReadModelVersion.projection) == PROJECTION,
                col(ReadModelVersion.version) != version.number,
                col(ReadModelVersion.state) != State.RETIRED,
            )
            .values(state=State.RETIRED, retired_at=at)
        )
        await connection.execute(
            update(ReadModelVersion)
            .where(*row_of(version.number))
            .values(state=State.ACTIVE, activated_at=at, retired_at=None)
        )


def _listed(recorded: dict[int, Recorded]) -> str:
    return ", ".join(f"v{n} {r.state}" for n, r in sorted(recorded.items())) or "none"


async def drop(
    engine: AsyncEngine,
    version: ProjectionVersion,
    forget_group: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Drop `version`'s tables and forget what it applied; refused for the active version (as
    it stands under the lock, not as it stood when the caller looked). `forget_group` deletes its
    consumer group first, under the same lock (`carepath-dashboard prune-read-models`): without
    that a rerun would resume where it was, on empty tables; under the lock, a pod of the version
    starting meanwhile records itself (and makes fresh tables) only once they are dropped."""
    async with engine.begin() as connection:
        await connection.run_sync(lock)
        known = (await recorded_versions(connection)).get(version.number)
        if known is not None and known.state == State.ACTIVE:
            raise VersionInUse(f"read models v{version.number} are the active ones: they serve")
        if forget_group is not None:
            await forget_group()
        for table in version.tables:
            await connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
        await connection.execute(
            delete(InboxRecord).where(col(InboxRecord.consumer) == version.scope)
        )
        await connection.execute(
            delete(DeadLetterRecord).where(col(DeadLetterRecord.consumer) == version.scope)
        )
        await connection.execute(delete(ReadModelVersion).where(*row_of(version.number)))
