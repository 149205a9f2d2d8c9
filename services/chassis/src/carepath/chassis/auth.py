"""Bearer-token auth: every endpoint but health needs a JWT carrying one of the clinic's roles,
issued by an OpenID Connect provider and verified through its JWKS (asymmetric keys only: a
service can check a token but never mint one). Local runs use the dev issuer (`dev_issuer.py`)
through the same path."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from carepath.chassis.dev_issuer import DevIssuer
from carepath.chassis.settings import ServiceSettings

ALGORITHMS = ["ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA"]
"""Asymmetric algorithms only: an HS256 token would need the verifier to hold the minting key."""


class Role(StrEnum):
    """The roles of ARCHITECTURE.md; a token carries exactly one."""

    INTAKE_COORDINATOR = "intake_coordinator"
    CLINICIAN = "clinician"
    NURSE = "nurse"
    THERAPIST = "therapist"
    AUDITOR = "auditor"
    OPERATOR = "operator"
    SERVICE = "service"
    PRIVACY_OFFICER = "privacy_officer"  # decides erasure requests (data protection officer)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject (user id) and role."""

    user_id: str
    role: Role


def dev_issuer(settings: ServiceSettings) -> DevIssuer:
    """The local dev issuer under `settings.dev_issuer_dir` (made on first use)."""
    return DevIssuer(settings.resolved_dev_issuer_dir()).ensure()


LOCAL_SERVICES = ("intake", "eligibility", "session", "integration", "dashboard", "audit")


def every_audience() -> list[str]:
    """The audiences of the local services: a dev token for all of them at once."""
    return [f"carepath-{name}" for name in LOCAL_SERVICES]


def issue_token(
    settings: ServiceSettings,
    role: Role,
    user_id: str,
    *,
    ttl: timedelta = timedelta(hours=12),
    audience: str | list[str] | None = None,
) -> str:
    """A dev-issuer token for `user_id` acting as `role` (local runs and tests): for `audience`,
    by default every local service."""
    return dev_issuer(settings).issue(role.value, user_id, audience or every_audience(), ttl=ttl)


class _DevJwks:
    """The dev issuer's JWKS read from its file (dev mode without a provider URL: PyJWKClient
    fetches over HTTP only); read again when a token names a key it has not seen (a rotation)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._keys: dict[str, jwt.PyJWK] = {}

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str):
            raise jwt.PyJWKClientError("the token names no key id (kid)")
        if kid not in self._keys:
            try:
                self._keys = {
                    key.key_id: key
                    for key in jwt.PyJWKSet.from_json(self._path.read_text()).keys
                    if key.key_id
                }
            except OSError as error:
                raise IdentityProviderUnavailable(f"the dev issuer's keys: {error}") from None
        if kid not in self._keys:
            raise jwt.PyJWKClientError(f'Unable to find a signing key that matches: "{kid}"')
        return self._keys[kid]


_jwks_clients: dict[str, jwt.PyJWKClient | _DevJwks] = {}
_jwks_lock = threading.Lock()


def _jwks_client(settings: ServiceSettings) -> jwt.PyJWKClient | _DevJwks:
    """One cached JWKS client per URL: keys kept 5 minutes; a token with an unknown key id (the
    provider rotated) fetches the set again, at most every `oidc_jwks_cooldown_seconds`, so a
    flood of made-up key ids cannot hammer the provider."""
    url = settings.resolved_jwks_url()
    with _jwks_lock:
        if url not in _jwks_clients:
            _jwks_clients[url] = (
                jwt.PyJWKClient(
                    url,
                    lifespan=300,
                    timeout=5,
                    cooldown_duration=settings.oidc_jwks_cooldown_seconds,
                )
                if settings.oidc_jwks_url
                else _DevJwks(settings.resolved_dev_issuer_dir() / "jwks.json")
            )
        return _jwks_clients[url]


CLOCK_SKEW = timedelta(minutes=1)


class IdentityProviderUnavailable(RuntimeError):
    """The provider's JWKS cannot be fetched: no token can be checked now (503, not 401)."""


def verify_token(settings: ServiceSettings, token: str) -> Principal:
    """The caller of a valid token; `jwt.InvalidTokenError` (or ValueError) otherwise.

    Beyond the signature (by a key of the provider's JWKS), this service's audience, the issuer
    and expiry: a subject that names someone, an issue time not in the future, and a lifetime of
    at most `jwt_max_lifetime_hours` (a token that lives for years is a password nobody can
    revoke)."""
    try:
        key = _jwks_client(settings).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as error:
        raise IdentityProviderUnavailable(str(error)) from None
    except jwt.PyJWKClientError as error:
        raise jwt.InvalidTokenError(str(error)) from None
    claims = jwt.decode(
        token,
        key,
        algorithms=ALGORITHMS,
        audience=settings.resolved_audience(),
        issuer=settings.oidc_issuer,
        options={"require": ["sub", "exp", "iat"], "verify_iat": False},
        leeway=CLOCK_SKEW,
    )
    subject = str(claims["sub"]).strip()
    if not subject:
        raise jwt.InvalidTokenError("the token's subject (sub) is empty")
    try:  # pyjwt checked both are numbers; a number beyond any date is still not a time
        issued = datetime.fromtimestamp(claims["iat"], UTC)
        expires = datetime.fromtimestamp(claims["exp"], UTC)
    except (OverflowError, OSError, TypeError, ValueError) as error:
        raise jwt.InvalidTokenError(f"the token's iat or exp is not a time ({error})") from None
    if issued > datetime.now(UTC) + CLOCK_SKEW:
        raise jwt.ImmatureSignatureError(f"the token is issued in the future ({issued:%FT%TZ})")
    lifetime = expires - issued
    longest = timedelta(hours=settings.jwt_max_lifetime_hours)
    if lifetime > longest:
        raise jwt.InvalidTokenError(
            f"the token lives {lifetime}, longer than the {longest} allowed (exp - iat)"
        )
    return Principal(user_id=subject, role=_role(claims, settings.oidc_role_claim))


def _role(claims: dict[str, Any], claim: str) -> Role:
    """The one CarePath role in the role claim (a string, or a list as many providers send)."""
    value = claims.get(claim)
    given = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    roles = {Role(name) for name in given if name in Role.__members__.values()}
    if len(roles) != 1:
        raise jwt.InvalidTokenError(
            f"the token's {claim!r} claim must carry exactly one CarePath role "
            f"({', '.join(Role)}); it carries {len(roles)}"
        )
    return roles.pop()


_bearer = HTTPBearer(auto_error=False)
BrowserSession = Callable[[Request], str | None]
"""How an app that serves browsers (the dashboard) finds a signed-in browser's token: set as
`app.state.browser_session`; it checks its own cookie (and the CSRF token of unsafe methods).
No other service accepts a cookie."""


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the verified caller (bearer token, or a browser signed in to an app
    that sets `browser_session`), or 401."""
    token = credentials.credentials if credentials else None
    browser_session: BrowserSession | None = getattr(request.app.state, "browser_session", None)
    if token is None and browser_session is not None:
        token = browser_session(request)
    if not token:
        raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    settings: ServiceSettings = request.app.state.settings
    try:
        principal = verify_token(settings, token)
    except IdentityProviderUnavailable:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the identity provider's keys cannot be fetched now; try again shortly",
            headers={"Retry-After": "5"},
        ) from None
    except (jwt.InvalidTokenError, ValueError) as error:
        raise _unauthorized(f"the bearer token is not valid: {error}") from None
    request.state.principal = principal  # who, should a role check then refuse them
    return principal


def require_role(*allowed: Role) -> Callable[..., Principal]:
    """FastAPI dependency factory: the caller, if their role is one of `allowed`; else 403."""
    names = ", ".join(role.value for role in allowed)

    def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role {principal.role.value} may not do this; allowed roles: {names}",
            )
        return principal

    return check
