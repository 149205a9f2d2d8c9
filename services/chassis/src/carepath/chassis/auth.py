"""Bearer-token auth: every endpoint but health needs a JWT carrying one of the clinic's roles."""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from carepath.chassis.files import create_private_file
from carepath.chassis.settings import ServiceSettings

ALGORITHM = "HS256"
DEV_SECRET_FILE = "dev-jwt-secret"  # noqa: S105 (a file name, not a secret)


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


def ensure_dev_secret(settings: ServiceSettings) -> None:
    """Without a configured key, make sure the local dev key `var_dir/dev-jwt-secret` exists:
    created once (mode 0600), and one key even when several processes start at once."""
    if settings.jwt_secret:
        return
    path = Path(settings.var_dir) / DEV_SECRET_FILE
    if not path.exists():
        create_private_file(path, secrets.token_urlsafe(48).encode())


def signing_secret(settings: ServiceSettings) -> str:
    """The configured key, or for local runs the dev key under `var/` (created if missing)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    ensure_dev_secret(settings)
    return (Path(settings.var_dir) / DEV_SECRET_FILE).read_text().strip()


def issue_token(
    settings: ServiceSettings, role: Role, user_id: str, *, ttl: timedelta = timedelta(hours=12)
) -> str:
    """A signed token for `user_id` acting as `role`."""
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "role": role.value,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, signing_secret(settings), algorithm=ALGORITHM)


CLOCK_SKEW = timedelta(minutes=1)


def verify_token(settings: ServiceSettings, token: str) -> Principal:
    """The caller of a valid token; `jwt.InvalidTokenError` (or ValueError) otherwise.

    Beyond the signature, audience, issuer and expiry: a subject that names someone, an issue
    time not in the future, and a lifetime of at most `jwt_max_lifetime_hours` (a token that
    lives for years is a password nobody can revoke)."""
    claims = jwt.decode(
        token,
        signing_secret(settings),
        algorithms=[ALGORITHM],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": ["sub", "role", "exp", "iat"], "verify_iat": False},
    )
    subject = str(claims["sub"]).strip()
    if not subject:
        raise jwt.InvalidTokenError("the token's subject (sub) is empty")
    issued = datetime.fromtimestamp(claims["iat"], UTC)
    if issued > datetime.now(UTC) + CLOCK_SKEW:
        raise jwt.ImmatureSignatureError(f"the token is issued in the future ({issued:%FT%TZ})")
    lifetime = datetime.fromtimestamp(claims["exp"], UTC) - issued
    longest = timedelta(hours=settings.jwt_max_lifetime_hours)
    if lifetime > longest:
        raise jwt.InvalidTokenError(
            f"the token lives {lifetime}, longer than the {longest} allowed (exp - iat)"
        )
    return Principal(user_id=subject, role=Role(claims["role"]))


_bearer = HTTPBearer(auto_error=False)
# For browsers (the dashboard page): the same token, in an HttpOnly cookie.
TOKEN_COOKIE = "carepath_token"  # noqa: S105 (a cookie name, not a secret)


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "Bearer"}
    )


def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the verified caller (bearer token, or the browser's cookie), or 401."""
    token = credentials.credentials if credentials else request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise _unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    settings: ServiceSettings = request.app.state.settings
    try:
        principal = verify_token(settings, token)
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
