"""The authorization matrix: every endpoint of every service, called with every role, with no
token, an expired token, a token for another audience and a forged one.

The expected roles are written here, as the README's table says them, not read from the code: a
change to who may do what is a change to this table, reviewed. An endpoint that is in a service
but not in the table fails the run, so no new endpoint goes without a role check.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from dashboard_fixtures import without_broker
from test_input_bounds_over_http import running, settings

from carepath.audit.app import AuditSettings
from carepath.audit.app import create_app as audit_app
from carepath.chassis.auth import LOCAL_SERVICES, Role, issue_token
from carepath.chassis.dev_issuer import DevIssuer
from carepath.chassis.settings import ServiceSettings
from carepath.dashboard.app import DashboardSettings
from carepath.dashboard.app import create_app as dashboard_app
from carepath.dashboard.signin import CSRF_HEADER, SESSION_COOKIE, UNSAFE_METHODS
from carepath.eligibility.app import EligibilitySettings
from carepath.eligibility.app import create_app as eligibility_app
from carepath.intake.app import IntakeSettings
from carepath.intake.app import create_app as intake_app
from carepath.integration.app import IntegrationSettings
from carepath.integration.app import create_app as integration_app
from carepath.session.app import SessionSettings
from carepath.session.app import create_app as session_app
from support import issuer_settings

R = Role
PUBLIC = frozenset({"public"})
VIEWERS = {R.CLINICIAN, R.NURSE, R.THERAPIST, R.INTAKE_COORDINATOR, R.AUDITOR}

# (service, method, path) -> the roles that may call it (PUBLIC: no token needed).
MATRIX: dict[tuple[str, str, str], frozenset[Any]] = {
    **{
        (service, "GET", path): PUBLIC
        for service in ("intake", "eligibility", "session", "integration", "dashboard", "audit")
        for path in (
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
        )
    },
    ("intake", "POST", "/patients"): frozenset({R.INTAKE_COORDINATOR, R.CLINICIAN}),
    ("intake", "PUT", "/patients/{id}/intake-form"): frozenset({R.INTAKE_COORDINATOR, R.CLINICIAN}),
    ("intake", "POST", "/patients/{id}/assessments"): frozenset(
        {R.INTAKE_COORDINATOR, R.CLINICIAN}
    ),
    ("intake", "POST", "/patients/{id}/consents"): frozenset({R.INTAKE_COORDINATOR, R.CLINICIAN}),
    ("intake", "POST", "/patients/{id}/consents/withdrawal"): frozenset(
        {R.INTAKE_COORDINATOR, R.CLINICIAN}
    ),
    ("intake", "GET", "/patients/{id}"): frozenset({R.INTAKE_COORDINATOR, R.CLINICIAN, R.AUDITOR}),
    ("intake", "POST", "/patients/{id}/erasure"): frozenset({R.PRIVACY_OFFICER}),
    ("intake", "GET", "/patients/{id}/data-key"): frozenset({R.SERVICE}),
    ("eligibility", "GET", "/screenings/{id}"): frozenset(
        {R.CLINICIAN, R.INTAKE_COORDINATOR, R.AUDITOR}
    ),
    ("eligibility", "POST", "/screenings/{id}/reviews"): frozenset({R.CLINICIAN}),
    ("session", "GET", "/courses/{id}"): frozenset({R.CLINICIAN, R.NURSE, R.THERAPIST, R.AUDITOR}),
    ("session", "POST", "/courses/{id}/preparation-sessions"): frozenset(
        {R.THERAPIST, R.CLINICIAN}
    ),
    ("session", "POST", "/courses/{id}/dosing-sessions"): frozenset({R.NURSE, R.CLINICIAN}),
    ("session", "POST", "/courses/{id}/suspension"): frozenset({R.CLINICIAN}),
    ("session", "POST", "/courses/{id}/resumption"): frozenset({R.CLINICIAN}),
    ("session", "POST", "/courses/{id}/maintenance"): frozenset({R.CLINICIAN}),
    ("session", "POST", "/courses/{id}/boosters"): frozenset({R.CLINICIAN}),
    ("session", "POST", "/dosing-sessions/{id}/check-in"): frozenset({R.NURSE, R.CLINICIAN}),
    ("session", "POST", "/dosing-sessions/{id}/dose"): frozenset({R.CLINICIAN}),
    ("session", "POST", "/dosing-sessions/{id}/vitals"): frozenset({R.NURSE, R.CLINICIAN}),
    ("session", "POST", "/dosing-sessions/{id}/observations"): frozenset({R.NURSE, R.CLINICIAN}),
    ("session", "POST", "/dosing-sessions/{id}/adverse-events"): frozenset({R.NURSE, R.CLINICIAN}),
    ("session", "POST", "/dosing-sessions/{id}/discharge"): frozenset({R.CLINICIAN}),
    ("integration", "GET", "/plans/{id}"): frozenset(
        {R.CLINICIAN, R.THERAPIST, R.NURSE, R.AUDITOR}
    ),
    ("integration", "POST", "/plans/{id}/integration-sessions"): frozenset(
        {R.THERAPIST, R.CLINICIAN}
    ),
    ("integration", "POST", "/patients/{id}/outcomes"): frozenset(
        {R.CLINICIAN, R.THERAPIST, R.NURSE}
    ),
    ("integration", "POST", "/courses/{id}/completion"): frozenset({R.CLINICIAN}),
    ("integration", "POST", "/courses/{id}/discontinuation"): frozenset({R.CLINICIAN}),
    ("dashboard", "GET", "/"): PUBLIC,  # the page: no patient data, it signs in first
    ("dashboard", "POST", "/login"): PUBLIC,  # sign-in: checks the posted token itself
    ("dashboard", "POST", "/logout"): PUBLIC,  # clears the caller's own cookie (CSRF-checked)
    ("dashboard", "GET", "/stream"): frozenset(VIEWERS),
    ("dashboard", "GET", "/api/summary"): frozenset(VIEWERS),
    ("dashboard", "GET", "/api/session"): frozenset(VIEWERS),
    ("dashboard", "GET", "/api/patients/{id}/timeline"): frozenset(VIEWERS),
    ("dashboard", "POST", "/api/alerts/{id}/acknowledgement"): frozenset({R.CLINICIAN, R.NURSE}),
    ("audit", "GET", "/trail"): frozenset({R.AUDITOR}),
    ("audit", "GET", "/trail/verify"): frozenset({R.AUDITOR}),
    ("audit", "POST", "/exports"): frozenset({R.AUDITOR}),
}

APPS: dict[str, tuple[Callable[..., Any], type[ServiceSettings]]] = {
    "intake": (intake_app, IntakeSettings),
    "eligibility": (eligibility_app, EligibilitySettings),
    "session": (session_app, SessionSettings),
    "integration": (integration_app, IntegrationSettings),
    "dashboard": (dashboard_app, DashboardSettings),
    "audit": (audit_app, AuditSettings),
}
TOKENS = issuer_settings("matrix")  # the dev issuer the services under test trust


ENDLESS = {"/stream"}  # server-sent events: an allowed caller's response never ends


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def for_service(name: str, role: Role, **options: Any) -> dict[str, str]:
    """A bearer token of `role` for service `name` only (its audience)."""
    return bearer(issue_token(TOKENS, role, "u", audience=f"carepath-{name}", **options))


def refused_tokens(name: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Every way of calling service `name` without a valid token: each must be 401."""
    other = next(service for service in LOCAL_SERVICES if service != name)
    forger = DevIssuer(tmp_path / "forger").ensure()  # the same issuer name, its own keys
    return {
        "no token": {},
        "expired": for_service(name, R.CLINICIAN, ttl=timedelta(seconds=-90)),
        "another audience": for_service(other, R.CLINICIAN),
        "forged": bearer(forger.issue("clinician", "u", f"carepath-{name}")),
        "not a token": bearer("not-a-jwt"),
    }


@pytest.fixture(params=list(APPS))
async def service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, httpx.AsyncClient, Any]]:
    name = request.param
    create, kind = APPS[name]
    app = create(settings(kind, name, tmp_path))
    if name == "dashboard":
        without_broker(app)  # its summary answers at once, not after a broker's timeout
    async for client in running(app):
        yield name, client, app


def endpoints(name: str, app: Any) -> set[tuple[str, str, str]]:
    """Every route the service serves, those left out of its OpenAPI document included, ids
    written `{id}`."""
    found = set()
    for path, methods in _routes(app.routes):
        generic = "/".join("{id}" if p.startswith("{") else p for p in path.split("/"))
        found |= {(name, method, generic) for method in methods - {"HEAD"}}
    return found


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers."""
    for route in routes:
        if (router := getattr(route, "original_router", None)) is not None:
            inner = getattr(route.include_context, "prefix", "") or ""
            yield from _routes(router.routes, prefix + inner)
        elif methods := getattr(route, "methods", None):
            yield prefix + route.path, set(methods)


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> int:
    url = path.replace("{id}", str(uuid4()))
    body = {"json": {}} if method in ("POST", "PUT") else {}
    return (await client.request(method, url, headers=headers, **body)).status_code


async def test_every_endpoint_answers_every_role_and_every_bad_token_as_the_matrix_says(
    service: tuple[str, httpx.AsyncClient, Any], tmp_path: Path
) -> None:
    name, client, app = service
    served = endpoints(name, app)
    assert served == {key for key in MATRIX if key[0] == name}, "endpoints not in the matrix"
    wrong: list[str] = []
    for _, method, path in sorted(served):
        allowed = MATRIX[(name, method, path)]
        if allowed == PUBLIC:
            continue
        for what, headers in refused_tokens(name, tmp_path).items():
            if (status := await call(client, method, path, headers)) != 401:
                wrong.append(f"{method} {path} with {what}: {status}, not 401")
        for role in Role:
            if role in allowed and path in ENDLESS:
                continue  # it would answer for ever; its refusals above end at once
            status = await call(client, method, path, for_service(name, role))
            if role in allowed and status in (401, 403):
                wrong.append(f"{method} {path} as {role.value}: {status}, but it is allowed")
            if role not in allowed and status != 403:
                wrong.append(f"{method} {path} as {role.value}: {status}, not 403")
    assert not wrong, "\n".join(wrong)


def verdict(allowed: frozenset[Any], role: Role, status: int) -> str | None:
    """What is wrong with `status` for `role` on an endpoint open to `allowed` (None: right)."""
    if role in allowed and status in (401, 403):
        return f"{status}, but it is allowed"
    if role not in allowed and status != 403:
        return f"{status}, not 403"
    return None


async def test_only_the_dashboard_takes_its_browser_cookie_and_a_change_needs_its_csrf_token(
    service: tuple[str, httpx.AsyncClient, Any],
) -> None:
    """The dashboard's session cookie, without a bearer token: every other service answers 401;
    the dashboard answers a read as it would the bearer token, and a change (POST...) 403 unless
    it carries the session's CSRF token, then as the bearer token."""
    name, client, app = service
    wrong: list[str] = []
    for _, method, path in sorted(endpoints(name, app)):
        allowed = MATRIX[(name, method, path)]
        if allowed == PUBLIC:
            continue
        for role in Role:
            if role in allowed and path in ENDLESS:
                continue
            token = issue_token(TOKENS, role, "u")
            cookie = {"Cookie": f"{SESSION_COOKIE}={token}"}
            status = await call(client, method, path, cookie)
            where = f"{method} {path} as {role.value} with the cookie"
            if name != "dashboard":
                if status != 401:
                    wrong.append(f"{where}: {status}, not 401")
                continue
            if method in UNSAFE_METHODS:
                if status != 403:
                    wrong.append(f"{where} and no CSRF token: {status}, not 403")
                csrf = {CSRF_HEADER: app.state.browser_sessions.csrf_token(token)}
                status = await call(client, method, path, cookie | csrf)
                where += " and its CSRF token"
            if problem := verdict(allowed, role, status):
                wrong.append(f"{where}: {problem}")
    assert not wrong, "\n".join(wrong)
