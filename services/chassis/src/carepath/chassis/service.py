"""The base of every domain service's layer (its `service.py`): the runtime, the clinic policy
and the decider, one way in each service; and how the routes find the service."""

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar
from uuid import UUID

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.commands import Decision
from carepath.chassis.decider import C, Decider, S
from carepath.chassis.http import RequestContext
from carepath.chassis.runtime import Policy, ServiceRuntime
from carepath.contracts import CloudEvent, DomainEvent

P = TypeVar("P")
T = TypeVar("T")


class DomainService(Generic[P, S, C]):
    """A service layer: runs its decider (under the clinic `policy`) on each patient's stream
    (`stream_id(patient_id)`) through the runtime."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        policy: P,
        decider: Decider[S, C],
        stream_id: Callable[[UUID], str],
    ) -> None:
        self.runtime = runtime
        self.policy = policy
        self.decider = decider
        self.stream_id = stream_id

    @property
    def name(self) -> str:
        """The service's name (`intake`, `session`...), the actor of what it decides itself."""
        return self.runtime.settings.service_name

    async def command(
        self,
        patient_id: UUID,
        command: C,
        context: RequestContext,
        also: Callable[[AsyncSession, S], Awaitable[None]] | None = None,
    ) -> Decision[S]:
        """Run a staff command on the patient's stream, as `context`'s caller: the state after it
        and what it decided (`also` runs in the same transaction)."""
        return await self.runtime.handle(
            self.decider,
            self.stream_id(patient_id),
            command,
            subject=str(patient_id),
            metadata=context.metadata(self.name),
            also=also,
        )

    async def react(
        self,
        session: AsyncSession,
        envelope: CloudEvent,
        policy: Policy[C],
        event: DomainEvent | None = None,
    ) -> Decision[S] | None:
        """React to an upstream event through `policy` (event in, command out); `event` when
        the caller has parsed the envelope already."""
        return await self.runtime.react(
            session, envelope, self.decider, policy, self.stream_id, event
        )

    async def state_of(self, patient_id: UUID) -> tuple[S, int]:
        """The patient's stream: its state and version (0: nothing recorded yet)."""
        return await self.runtime.load(self.decider, self.stream_id(patient_id))


def service_of(kind: type[T]) -> Callable[[Request], T]:
    """A FastAPI dependency: the app's service layer (`ServiceRuntime.create_app(service=...)`)."""

    def service(request: Request) -> T:
        found = request.app.state.service
        if not isinstance(found, kind):
            raise TypeError(f"the app's service is a {type(found).__name__}, not a {kind.__name__}")
        return found

    service.__name__ = f"{kind.__name__.lower()}_service"
    return service
