"""The staff's HTTP calls for one patient: send a request as a member of staff, read what may
not be there yet, and wait for a condition another service brings about, up to a deadline."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from carepath.chassis.auth import Role, issue_token
from carepath.chassis.settings import ServiceSettings
from carepath.seed.journey import Refusal

T = TypeVar("T")
CONCURRENT_WRITE_TRIES = 5  # 409 "changed meanwhile": the service asks to reload and retry
Staff = tuple[Role, str]


class Refused(Exception):
    """A service answered what the plan did not expect; the patient's journey stops there."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.method} {refusal.url} -> {refusal.status}")
        self.refusal = refusal


class MissingSigningKey(Exception):
    """No key to sign tokens with: the local dev issuer the services trust is not there."""


class BadSettings(Exception):
    """The environment sets something the services would refuse too (e.g. the time zone)."""


def local_settings(name: str) -> ServiceSettings:
    """The settings the services read from the environment (clinic time zone, signing key);
    `BadSettings` naming each variable that is wrong and why."""
    try:
        return ServiceSettings(service_name=name)
    except ValidationError as error:
        reasons = "; ".join(
            f"CAREPATH_{str(problem['loc'][0]).upper()}: {problem['msg']}"
            for problem in error.errors()
        )
        raise BadSettings(reasons) from None


class Tokens:
    """Bearer tokens for the staff, signed with the key the local services use."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._issued: dict[tuple[Role, str], str] = {}

    @classmethod
    def for_local_services(cls, settings: ServiceSettings) -> "Tokens":
        """Tokens the services started by `make up` accept: signed by the dev issuer they trust
        (`var/dev-issuer`, made when they start); `MissingSigningKey` when it is not there."""
        issuer = settings.resolved_dev_issuer_dir() / "jwks.json"
        if not issuer.exists():
            raise MissingSigningKey(
                f"No dev issuer: {issuer} does not exist. Run from the repository root after "
                "`make up`, or set CAREPATH_DEV_ISSUER_DIR (or CAREPATH_VAR_DIR) to what the "
                "services use."
            )
        return cls(settings)

    def headers(self, role: Role, user: str) -> dict[str, str]:
        if (role, user) not in self._issued:
            self._issued[role, user] = issue_token(self._settings, role, user)
        return {"Authorization": f"Bearer {self._issued[role, user]}"}


@dataclass(frozen=True)
class Calls:
    """HTTP calls about one patient (`patient`, the plan's number, names them in refusals)."""

    client: httpx.AsyncClient
    tokens: Tokens
    deadline_seconds: float
    patient: int

    async def read(self, url: str, who: Staff) -> dict[str, Any] | None:
        """GET `url`: the JSON, or None while it is 404 (not there yet)."""
        answer: dict[str, Any] | None = await self.send("GET", url, who, None, 200, waiting_for=404)
        return answer

    async def send(
        self,
        method: str,
        url: str,
        who: Staff,
        body: BaseModel | None,
        expect: int = 201,
        *,
        waiting_for: int | None = None,
    ) -> Any:
        """Send as `who`; the answer's JSON when it is `expect`, None when it is `waiting_for`,
        else `Refused` with the request and the answer."""
        payload = body.model_dump(mode="json") if body is not None else None
        headers = self.tokens.headers(*who)
        for _ in range(CONCURRENT_WRITE_TRIES):
            try:
                response = await self.client.request(method, url, json=payload, headers=headers)
            except httpx.TransportError as error:
                raise Refused(
                    self.refusal(method, url, payload, 0, f"{type(error).__name__}: {error}")
                ) from None
            if not (response.status_code == 409 and "changed meanwhile" in response.text):
                break
        if response.status_code == expect:
            return response.json()
        if response.status_code == waiting_for:
            return None
        raise Refused(self.refusal(method, url, payload, response.status_code, response.text))

    async def wait_for(self, what: str, condition: Callable[[], Awaitable[T | None]]) -> T:
        """Poll `condition` until it gives a value; `Refused` once the deadline has passed."""
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.deadline_seconds, 0.1
        while (found := await condition()) is None:
            if loop.time() >= deadline:
                seconds = self.deadline_seconds
                raise Refused(self.refusal("WAIT", what, None, 0, f"not seen within {seconds:g} s"))
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 1.0)
        return found

    def refusal(self, method: str, url: str, body: Any, status: int, answer: str) -> Refusal:
        return Refusal(self.patient, method, url, body, status, answer)
