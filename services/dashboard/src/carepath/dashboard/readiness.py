"""Whether this dashboard may serve: while its version of the read models is the active one.

The rule is one line: a dashboard is ready exactly while `read_model_version` names its version
active. It records its version when it starts (`Readiness.record`), then looks every
`CATCH_UP_POLL_S` seconds, for as long as it runs:
- building: it reads its consumer group's lag; once every partition has been at its end, it
  activates its version (a compare-and-set: only a building version becomes active, never over a
  newer one), and serves;
- active: it serves; when a newer version has caught up (or an operator reinstated another), its
  version is retired and it stops serving within one look: no two versions answer at once;
- retired, or no longer recorded (pruned): not ready, and it says why.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from carepath.dashboard.versions import (
    RUNNING,
    ProjectionVersion,
    State,
    activate,
    register,
    state_of,
)

log = logging.getLogger(__name__)

CATCH_UP_POLL_S = 5.0
"""Seconds between two looks at the registry (and, while building, at the brokers' offsets: a
look opens an admin client and a consumer; the readiness probe needs no finer grain)."""

Lag = dict[tuple[str, int], int]
"""Records not yet applied, per topic and partition."""


@dataclass
class Readiness:
    """Whether this process's version may serve (see the module). Until it may, `/readyz` says
    why, and how far behind it is while it builds."""

    engine: AsyncEngine
    lag: Callable[[], Lag]
    version: ProjectionVersion = RUNNING
    every_s: float = CATCH_UP_POLL_S
    state: State | None = None
    behind: int | None = None
    recorded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the version is recorded and its tables made: its consumer waits for it."""
    _reached_end: set[tuple[str, int]] = field(default_factory=set)

    @property
    def ready(self) -> bool:
        return self.state == State.ACTIVE

    def describe(self) -> str:
        """What `/readyz` says while it is not ready."""
        v = f"v{self.version.number}"
        if self.state == State.BUILDING:
            behind = "lag not known yet" if self.behind is None else f"{self.behind} behind"
            return f"building read models {v}: {behind}"
        if self.state == State.RETIRED:
            return (
                f"read models {v} are retired: another version serves "
                f"(`carepath-dashboard reinstate-read-models {self.version.number}` for a rollback)"
            )
        if self.recorded.is_set():
            return f"read models {v} are no longer recorded (pruned): restart to build them again"
        return f"recording read models {v}"

    async def record(self) -> None:
        """Record the version and make its tables (when the service starts, before its consumer
        applies anything). Raises `versions.BuiltByOtherCode`: the service must not start."""
        self.state = await register(self.engine, self.version)
        self.recorded.set()
        log.info("read models v%d: %s", self.version.number, self.state)

    async def run(self) -> None:
        """Look every `every_s` seconds while the service runs (a background task)."""
        while True:
            await asyncio.sleep(self.every_s)
            await self.look()

    async def look(self) -> None:
        """One look: where the version stands now, and, while it builds, whether it caught up."""
        try:
            state = await state_of(self.engine, self.version)
            if state == State.BUILDING and await self._caught_up():
                await activate(self.engine, self.version)
                state = await state_of(self.engine, self.version)
        except Exception as error:  # the database away: keep the last state, look again later
            log.warning("read-model versions unavailable (%s)", type(error).__name__)
            return
        if state != self.state:
            log.info("read models v%d: %s", self.version.number, state or "no longer recorded")
        self.state = state

    async def _caught_up(self) -> bool:
        try:
            lag = await asyncio.to_thread(self.lag)
        except Exception as error:  # the brokers away: look again later
            log.warning(
                "lag of read models v%d unknown (%s)", self.version.number, type(error).__name__
            )
            return False
        self.behind = sum(lag.values())
        self._reached_end.update(partition for partition, left in lag.items() if left == 0)
        return bool(lag) and self._reached_end >= lag.keys()
