"""A service's keyring when another service owns the key store: patients' keys fetched from the
key service's API (`GET /patients/{id}/data-key` on intake, role `service`), which records each
fetch as an access event. Keys are kept in memory for `key_cache_seconds`, so an erasure reaches
this service within that time."""

import base64
import time
from datetime import timedelta
from uuid import UUID

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from carepath.chassis.auth import Role, issue_token
from carepath.chassis.errors import NotFound
from carepath.chassis.sealing import KeyServiceUnavailable, PatientErased
from carepath.chassis.settings import ServiceSettings

TOKEN_LIFETIME = timedelta(minutes=10)


class RemoteKeyring:
    """Patients' data keys from the key service, cached for a short while."""

    def __init__(self, settings: ServiceSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client or httpx.AsyncClient(base_url=settings.key_service_url, timeout=5.0)
        self._cache: dict[UUID, tuple[float, bytes | PatientErased]] = {}
        self._token: tuple[float, str] | None = None

    async def data_key(
        self, patient_id: UUID, *, session: AsyncSession | None = None, create: bool = True
    ) -> bytes:
        """The patient's data key; `PatientErased` once destroyed; `KeyServiceUnavailable` when
        the key service cannot be reached. (The key service makes keys itself: `create` and
        `session` are for a key store in this service's own database.)"""
        del session, create
        cached = self._cache.get(patient_id)
        if cached is None or cached[0] < time.monotonic():
            cached = (
                time.monotonic() + self.settings.key_cache_seconds,
                await self._fetch(patient_id),
            )
            self._cache[patient_id] = cached
        if isinstance(cached[1], PatientErased):
            raise cached[1]
        return cached[1]

    async def _fetch(self, patient_id: UUID) -> bytes | PatientErased:
        try:
            response = await self._client.get(
                f"/patients/{patient_id}/data-key",
                headers={"Authorization": f"Bearer {self._bearer()}"},
            )
        except httpx.HTTPError as error:
            raise KeyServiceUnavailable(
                f"key service {self.settings.key_service_url} not reachable "
                f"({type(error).__name__})"
            ) from None
        if response.status_code == httpx.codes.GONE:
            return PatientErased(response.json().get("detail", f"patient {patient_id} was erased"))
        if response.status_code >= 500:
            raise KeyServiceUnavailable(f"key service answered {response.status_code}")
        if response.status_code == httpx.codes.NOT_FOUND:
            raise NotFound(f"the key service knows no patient {patient_id}")
        if response.status_code != httpx.codes.OK:
            raise PermissionError(
                f"key service refused this service ({response.status_code}): check its role"
            )
        return base64.b64decode(response.json()["key"])

    def _bearer(self) -> str:
        now = time.monotonic()
        if self._token is None or self._token[0] < now:
            token = issue_token(
                self.settings, Role.SERVICE, self.settings.service_name, ttl=TOKEN_LIFETIME
            )
            self._token = (now + TOKEN_LIFETIME.total_seconds() / 2, token)
        return self._token[1]

    async def close(self) -> None:
        await self._client.aclose()
