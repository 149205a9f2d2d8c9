"""The base of every domain service's layer (its `service.py`): the runtime, the clinic policy
and the decider, one way in each service; and how the routes find the service."""

from collections.abc import Callable
from typing import Generic, TypeVar

from fastapi import Request

from carepath.chassis.decider import C, Decider, S
from carepath.chassis.runtime import ServiceRuntime

P = TypeVar("P")
T = TypeVar("T")


class DomainService(Generic[P, S, C]):
    """A service layer: runs its decider (under the clinic `policy`) through the runtime."""

    def __init__(self, runtime: ServiceRuntime, policy: P, decider: Decider[S, C]) -> None:
        self.runtime = runtime
        self.policy = policy
        self.decider = decider

    @property
    def name(self) -> str:
        """The service's name (`intake`, `session`...), the actor of what it decides itself."""
        return self.runtime.settings.service_name


def service_of(kind: type[T]) -> Callable[[Request], T]:
    """A FastAPI dependency: the app's service layer (`ServiceRuntime.create_app(service=...)`)."""

    def service(request: Request) -> T:
        found = request.app.state.service
        if not isinstance(found, kind):
            raise TypeError(f"the app's service is a {type(found).__name__}, not a {kind.__name__}")
        return found

    service.__name__ = f"{kind.__name__.lower()}_service"
    return service
