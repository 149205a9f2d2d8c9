"""Signing a browser in to the dashboard (issue 19): the token is posted from the page's form,
never put in a URL; the session cookie is host-only, Secure, HttpOnly and SameSite=Strict, read
by the dashboard alone; what the cookie authenticates and changes something needs the session's
CSRF token; forwarded headers are believed from the configured proxies only."""

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from dashboard_fixtures import (
    add_rows,
    alert,
    bearer,
    client_of,
    dashboard_app,
    reads_recorded,
    session_cookie,
    token_for,
)
from test_input_bounds_over_http import running, settings

from carepath.chassis.auth import IdentityProviderUnavailable, Role, issue_token
from carepath.contracts.access import AccessOutcome
from carepath.dashboard import api
from carepath.dashboard.signin import CSRF_HEADER, SESSION_COOKIE
from carepath.intake.app import IntakeSettings
from carepath.intake.app import create_app as create_intake_app

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return dashboard_app(tmp_path)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async for c in client_of(app):
        yield c


def set_cookie(response: httpx.Response) -> SimpleCookie:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return cookies


async def csrf_of(client: httpx.AsyncClient, cookie: dict[str, str]) -> str:
    answer = await client.get("/api/session", headers=cookie)
    assert answer.status_code == 200, answer.text
    token = answer.json()["csrf_token"]
    assert isinstance(token, str) and len(token) == 64
    return token


# --- Sign-in: a form post, never a URL -----------------------------------------------------------


async def test_a_token_posted_from_the_form_signs_in_with_a_host_only_secure_cookie(
    app: Any, client: httpx.AsyncClient
) -> None:
    token = token_for(app, Role.NURSE, "nurse-a")

    answer = await client.post("/login", data={"token": f"  bearer  {token}\n"})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/?signin=ok"
    cookie = set_cookie(answer)[SESSION_COOKIE]
    assert cookie.value == token
    assert cookie["path"] == "/"
    assert cookie["domain"] == ""  # host-only: the __Host- prefix forbids a Domain
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert token not in answer.headers["location"]


async def test_the_cookie_is_secure_on_plain_http_too(app: Any) -> None:
    # A __Host- cookie is always Secure: browsers keep it from https, or from http://localhost
    # and 127.0.0.1 (secure contexts); the browser test signs in over http://127.0.0.1.
    async for client in client_of(app, scheme="http"):
        answer = await client.post("/login", data={"token": token_for(app, Role.CLINICIAN)})
        assert set_cookie(answer)[SESSION_COOKIE]["secure"] is True


async def test_a_get_login_with_a_token_does_not_sign_in(
    app: Any, client: httpx.AsyncClient
) -> None:
    answer = await client.get("/login", params={"token": token_for(app, Role.CLINICIAN)})

    assert answer.status_code == 405
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize(
    "posted",
    ["not-a-jwt-but-long-enough", "", "x" * 10_000, "forged"],
    ids=["garbage", "empty", "too long", "forged"],
)
async def test_a_token_not_accepted_goes_back_with_a_reason_and_never_the_token(
    app: Any, client: httpx.AsyncClient, posted: str
) -> None:
    if posted == "forged":
        posted = token_for(app, Role.CLINICIAN)[:-6] + "AAAAAA"

    answer = await client.post("/login", data={"token": posted})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/?signin=failed"
    assert "set-cookie" not in answer.headers
    assert not posted or posted not in answer.text + answer.headers["location"]


async def test_an_empty_form_post_does_not_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.post("/login", content=b"", headers=FORM)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/?signin=failed"
    assert "set-cookie" not in answer.headers


async def test_a_token_for_another_service_does_not_sign_in_to_the_dashboard(
    app: Any, client: httpx.AsyncClient
) -> None:
    intake_only = issue_token(
        app.state.settings, Role.CLINICIAN, "dr-a", audience="carepath-intake"
    )

    answer = await client.post("/login", data={"token": intake_only})

    assert answer.headers["location"] == "/?signin=failed"
    assert "set-cookie" not in answer.headers


async def test_when_the_identity_provider_is_away_the_page_says_so(
    app: Any, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def away(*_args: Any) -> None:
        raise IdentityProviderUnavailable("connection refused")

    monkeypatch.setattr(api, "verify_token", away)
    answer = await client.post("/login", data={"token": token_for(app, Role.CLINICIAN)})

    assert answer.headers["location"] == "/?signin=unavailable"
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SERVICE, Role.PRIVACY_OFFICER])
async def test_a_role_without_a_view_of_the_dashboard_is_not_signed_in(
    app: Any, client: httpx.AsyncClient, role: Role
) -> None:
    answer = await client.post("/login", data={"token": token_for(app, role)})

    assert answer.headers["location"] == "/?signin=role"
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize(
    "says",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://attacker.example"},  # a browser without Sec-Fetch-Site
        {"Sec-Fetch-Site": "same-site", "Origin": "http://test"},  # a sibling host
    ],
)
async def test_a_sign_in_posted_from_another_site_is_refused(
    app: Any, client: httpx.AsyncClient, says: dict[str, str]
) -> None:
    answer = await client.post(
        "/login",
        data={"token": token_for(app, Role.CLINICIAN, "someone-else")},
        headers=says,
    )

    assert answer.status_code == 403
    assert "another site" in answer.json()["detail"]
    assert "set-cookie" not in answer.headers


# --- The cookie: the dashboard reads it, nobody else ---------------------------------------------


async def test_the_cookie_lets_the_browser_read_the_dashboard(
    app: Any, client: httpx.AsyncClient
) -> None:
    cookie = session_cookie(app, Role.CLINICIAN, "dr-cookie")

    assert (await client.get("/api/summary", headers=cookie)).status_code == 200
    me = (await client.get("/api/session", headers=cookie)).json()
    assert (me["user_id"], me["role"]) == ("dr-cookie", "clinician")
    assert (await client.get("/api/summary")).status_code == 401


async def test_the_intake_service_does_not_take_the_dashboard_cookie(
    app: Any, tmp_path: Path
) -> None:
    intake: Any = create_intake_app(settings(IntakeSettings, "intake", tmp_path))
    async for client in running(intake):
        answer = await client.get(
            f"/patients/{uuid4()}", headers=session_cookie(app, Role.CLINICIAN)
        )
        assert answer.status_code == 401
        assert "bearer token is required" in answer.json()["detail"]


# --- CSRF: what the cookie authenticates and changes something -----------------------------------


async def test_an_empty_form_post_with_the_cookie_does_not_acknowledge_an_alert(
    app: Any, client: httpx.AsyncClient
) -> None:
    open_alert = alert(uuid4())
    await add_rows(app, open_alert)
    cookie = session_cookie(app, Role.CLINICIAN)

    answer = await client.post(
        f"/api/alerts/{open_alert.alert_id}/acknowledgement",
        content=b"",
        headers={**cookie, **FORM},
    )

    assert answer.status_code == 403
    assert f"needs the {CSRF_HEADER} header" in answer.json()["detail"]
    [still_open] = (await client.get("/api/summary", headers=cookie)).json()["alerts"]
    assert still_open["alert_id"] == str(open_alert.alert_id)


async def test_a_wrong_or_another_sessions_csrf_token_is_refused(
    app: Any, client: httpx.AsyncClient
) -> None:
    open_alert = alert(uuid4())
    await add_rows(app, open_alert)
    mine = session_cookie(app, Role.CLINICIAN, "dr-a")
    theirs = await csrf_of(client, session_cookie(app, Role.CLINICIAN, "dr-b"))
    path = f"/api/alerts/{open_alert.alert_id}/acknowledgement"

    for wrong in ("0" * 64, theirs):
        answer = await client.post(path, json={}, headers={**mine, CSRF_HEADER: wrong})
        assert answer.status_code == 403
        assert "does not match this browser's session" in answer.json()["detail"]


async def test_the_sessions_csrf_token_lets_the_cookie_acknowledge(
    app: Any, client: httpx.AsyncClient
) -> None:
    open_alert = alert(uuid4(), kind="vitals")  # a nurse acknowledges all but suicidality
    await add_rows(app, open_alert)
    cookie = session_cookie(app, Role.NURSE, "nurse-b")

    answer = await client.post(
        f"/api/alerts/{open_alert.alert_id}/acknowledgement",
        json={},
        headers={**cookie, CSRF_HEADER: await csrf_of(client, cookie)},
    )

    assert answer.status_code == 200, answer.text
    assert "acknowledged_at" in answer.json()


async def test_a_bearer_call_needs_no_csrf_token(app: Any, client: httpx.AsyncClient) -> None:
    answer = await client.post(
        f"/api/alerts/{uuid4()}/acknowledgement", json={}, headers=bearer(app, Role.CLINICIAN)
    )

    assert answer.status_code == 404  # past authentication: there is no such alert
    assert (await client.get("/api/session", headers=bearer(app, Role.NURSE))).json()[
        "csrf_token"
    ] is None


# --- Sign-out --------------------------------------------------------------------------------------


async def test_sign_out_clears_the_cookie_with_the_sessions_csrf_token(
    app: Any, client: httpx.AsyncClient
) -> None:
    cookie = session_cookie(app, Role.THERAPIST)

    refused = await client.post("/logout", headers=cookie)
    signed_out = await client.post(
        "/logout", headers={**cookie, CSRF_HEADER: await csrf_of(client, cookie)}
    )

    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers
    assert signed_out.status_code == 204
    cleared = set_cookie(signed_out)[SESSION_COOKIE]
    assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", "0", "/")
    assert cleared["secure"] is True


# --- Behind the clinic's ingress -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "trusted", "recorded_from"),
    [
        ("10.1.2.3", "10.1.2.0/24", "203.0.113.9"),  # the configured ingress: believed
        ("10.9.9.9", "10.1.2.0/24", "10.9.9.9"),  # anyone else: the header is ignored
    ],
)
async def test_forwarded_headers_are_believed_from_the_configured_proxies_only(
    tmp_path: Path, proxy: str, trusted: str, recorded_from: str
) -> None:
    app = dashboard_app(tmp_path, forwarded_allow_ips=trusted)
    patient = uuid4()
    async for client in client_of(app, client=(proxy, 44123), scheme="http"):
        await add_rows(app, alert(patient))
        answer = await client.get(
            "/api/summary",
            headers={
                **bearer(app, Role.CLINICIAN),
                "X-Forwarded-For": "203.0.113.9",
                "X-Forwarded-Proto": "https",
            },
        )
        assert answer.status_code == 200, answer.text
        [read] = await reads_recorded(app, patient)
        assert read.outcome is AccessOutcome.SUCCESS
        assert read.client_address == recorded_from
