"""A service's keyring when another service owns the key store: patients' keys fetched from the
key service's API (`GET /patients/{id}/data-key` on intake, role `service`), which records each
fetch as an access event. Keys are kept in memory for `key_cache_seconds`, so an erasure reaches
this service within that time."""

import asyncio
import base64
import time
from collections.abc import Sequence
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

    async def prepare_keys(self, patient_ids: Sequence[UUID], session: AsyncSession) -> None:
        """Fetch the keys not in the cache at once (concurrently); errors are left for
        `data_key` to raise."""
        del session
        now = time.monotonic()
        wanted = {p for p in patient_ids if self._cache.get(p, (0.0,))[0] <= now}
        await asyncio.gather(*(self.data_key(p) for p in wanted), return_exceptions=True)

    async def _fetch(self, patient_id: UUID) -> bytes | PatientErased:
        try:
            response = await self._client.get(
                f"/patients/{patient_id}/data-key",
                headers={"Authorization": f"Bearer {await self._bearer()}"},
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
        if response.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            self._token = None  # a revoked or rotated token: the next try gets a new one
        if response.status_code != httpx.codes.OK:
            raise PermissionError(
                f"key service refused this service ({response.status_code}): check its role"
            )
        return base64.b64decode(response.json()["key"])

    async def _bearer(self) -> str:
        """This service's own token for the key service (role `service`), kept until half its
        life is gone: from the identity provider's token endpoint (client credentials), or in
        dev mode signed by the local dev issuer."""
        now = time.monotonic()
        if self._token is None or self._token[0] < now:
            token, lifetime = await self._new_token()
            self._token = (now + lifetime / 2, token)
        return self._token[1]

    async def _new_token(self) -> tuple[str, float]:
        settings = self.settings
        if settings.oidc_token_url is None or settings.oidc_client_secret is None:
            token = issue_token(
                settings,
                Role.SERVICE,
                settings.service_name,
                ttl=TOKEN_LIFETIME,
                audience=settings.key_service_audience,
            )
            return token, TOKEN_LIFETIME.total_seconds()
        try:
            response = await self._client.post(
                settings.oidc_token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": settings.resolved_client_id(),
                    "client_secret": settings.oidc_client_secret.get_secret_value(),
                    "audience": settings.key_service_audience,
                },
            )
        except httpx.HTTPError as error:
            raise KeyServiceUnavailable(
                f"identity provider {settings.oidc_token_url} not reachable "
                f"({type(error).__name__})"
            ) from None
        if response.status_code != httpx.codes.OK:
            raise KeyServiceUnavailable(
                f"identity provider refused this service's client credentials "
                f"({response.status_code}): check CAREPATH_OIDC_CLIENT_ID and _SECRET"
            )
        body = response.json()
        return body["access_token"], float(body.get("expires_in", 300))

    async def close(self) -> None:
        await self._client.aclose()
