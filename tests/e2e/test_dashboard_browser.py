"""The dashboard page in a real browser (Debian's Chromium, driven by Playwright) against the
running services: it shows what `/api/summary` says, a new safety alert appears without a reload,
acknowledging it takes it off the list, and a patient's timeline opens from the page."""

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from clinic import CONSENT, FORM, NO_RISK_CSSRS, Coordinator
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from carepath.chassis.auth import Role
from support import ROOT, ServiceProcess, token, wait_until

pytestmark = pytest.mark.broker

CHROMIUM = (
    "/usr/bin/chromium"  # Debian's package (`make browser`); Playwright's own is never fetched
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "var" / "test" / "artifacts"
DEMO_URL = os.environ.get("CAREPATH_DEMO_URL")  # `make demo-check` sets it to the running demo
PROJECTED_S = 30  # how long a command may take to reach the page through Kafka and the projection
PROJECTED_MS = PROJECTED_S * 1000


@pytest.fixture(scope="module")
def dashboard(
    intake_service: ServiceProcess,
    eligibility_service: ServiceProcess,
    session_service: ServiceProcess,
    integration_service: ServiceProcess,
    dashboard_service: ServiceProcess,
) -> ServiceProcess:
    return dashboard_service


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    yield context.new_page()
    context.close()


def summary(dashboard: ServiceProcess) -> dict[str, Any]:
    response = httpx.get(
        f"{dashboard.url}/api/summary", headers=token(Role.CLINICIAN, "dr-browser"), timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def suicidality_alert(dashboard: ServiceProcess, patient_id: str) -> dict[str, Any] | None:
    alerts = summary(dashboard)["alerts"]
    return next((a for a in alerts if a["patient_id"] == patient_id), None)


def funnel_of(dashboard: ServiceProcess) -> dict[str, int]:
    return {row["stage"]: row["patients"] for row in summary(dashboard)["funnel"]}


def intake_with_phq9_item_9(coordinator: Coordinator, item_9: int) -> str:
    """A complete intake whose baseline PHQ-9 answers item 9 (thoughts of self-harm) > 0."""
    patient_id = coordinator.refer()
    phq9 = {"instrument": "PHQ9", "answers": [2, 2, 2, 2, 2, 1, 2, 1, item_9]}
    for method, path, body in [
        ("PUT", "intake-form", FORM),
        ("POST", "assessments", phq9),
        ("POST", "assessments", NO_RISK_CSSRS),
        ("POST", "consents", CONSENT),
    ]:
        response = coordinator.client.request(method, f"/patients/{patient_id}/{path}", json=body)
        assert response.status_code in (200, 201), response.text
    return patient_id


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def dosed_half_an_hour_ago(session_url: str, patient_id: str) -> str:
    """Preparation, then today's first dosing session: checked in and dosed 30 minutes ago (a
    40-minute infusion), so the patient is in post-dose monitoring for another 130 minutes.
    Returns the session id."""
    nurse = httpx.Client(base_url=session_url, headers=token(Role.NURSE, "nurse-b"), timeout=30)
    clinician = httpx.Client(
        base_url=session_url, headers=token(Role.CLINICIAN, "dr-browser"), timeout=30
    )
    wait_until(
        lambda: nurse.get(f"/courses/{patient_id}").status_code == 200,
        timeout=PROJECTED_S,
        what="the course to be opened",
    )
    steps: list[tuple[httpx.Client, str, dict[str, Any]]] = [
        (
            clinician,
            f"/courses/{patient_id}/preparation-sessions",
            {"held_at": ago(24 * 60), "intentions": ["Sleep through"], "modality": "act"},
        ),
        (nurse, f"/courses/{patient_id}/dosing-sessions", {"scheduled_for": ago(45)}),
    ]
    for client, path, body in steps:
        response = client.post(path, json=body)
        assert response.status_code == 201, response.text
    session_id = str(response.json()["session_id"])
    for client, path, body in [
        (
            nurse,
            f"/dosing-sessions/{session_id}/check-in",
            {
                "measured_at": ago(40),
                "systolic": 126,
                "diastolic": 80,
                "heart_rate": 72,
                "spo2": 98,
                "weight_kg": 72.0,
            },
        ),
        (
            clinician,
            f"/dosing-sessions/{session_id}/dose",
            {"administered_at": ago(30), "route": "iv", "dose_mg": 36, "infusion_minutes": 40},
        ),
    ]:
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
    return session_id


def sign_in(page: Page, url: str, jwt: str) -> None:
    """What a clinician does once a day: paste a token into the page's form (a POST: the token
    is in no address); the session cookie does the rest. Over http://127.0.0.1, which Chromium
    treats as a secure context, so it keeps the Secure `__Host-` cookie."""
    addresses: list[str] = []
    page.on("request", lambda request: addresses.append(request.url))
    page.goto(f"{url}/")
    page.get_by_label("Token").fill(jwt)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signed-in")).to_be_visible(timeout=PROJECTED_MS)
    expect(page).to_have_url(f"{url}/")  # the sign-in's result is not left in the address
    assert not [address for address in addresses if jwt in address], "a token in a URL"
    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["value"]) == ("__Host-carepath-session", jwt)
    assert (cookie["path"], cookie["domain"]) == ("/", urlsplit(url).hostname)
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")
    assert page.evaluate("document.cookie") == ""  # nothing a script on the page could read


def clinician_token(user: str = "dr-browser") -> str:
    return token(Role.CLINICIAN, user)["Authorization"].removeprefix("Bearer ")


def test_the_page_shows_the_summary_and_follows_the_clinic_live(
    dashboard: ServiceProcess,
    intake_service: ServiceProcess,
    session_service: ServiceProcess,
    page: Page,
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    # Given a few intakes, one of them with thoughts of self-harm (PHQ-9 item 9 = 1), and one
    # patient dosed half an hour ago.
    before = funnel_of(dashboard)
    coordinator = Coordinator(intake_service.url)
    cleared = [coordinator.complete_intake(), coordinator.complete_intake()]
    flagged = intake_with_phq9_item_9(coordinator, item_9=1)
    in_monitoring = dosed_half_an_hour_ago(session_service.url, cleared[0])
    wait_until(
        lambda: funnel_of(dashboard)["course_opened"] >= before["course_opened"] + len(cleared),
        timeout=PROJECTED_S,
        what="the dashboard to count the new courses",
    )
    wait_until(
        lambda: suicidality_alert(dashboard, flagged),
        timeout=PROJECTED_S,
        what="the suicidality alert of the flagged intake",
    )

    # The page shows the same funnel as the API (the page re-reads on every update, so the
    # auto-waiting assertions also ride out events still being projected).
    sign_in(page, dashboard.url, clinician_token())
    page.on("console", console)  # from here (before, the signed-out page's read was a 401)
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#signed-in-as")).to_have_text("dr-browser (clinician)")
    expect(page.locator("#connection")).to_have_text("Live", timeout=PROJECTED_MS)
    funnel = summary(dashboard)["funnel"]
    assert len(funnel) == 7, funnel
    for row in funnel:
        cell = page.locator(f'#funnel-table tr[data-stage="{row["stage"]}"] td.patients')
        expect(cell).to_have_text(str(row["patients"]), timeout=PROJECTED_MS)
    expect(page.locator("#funnel")).to_be_visible()
    expect(page.locator(f'#alerts li[data-patient-id="{flagged}"] .kind')).to_have_text(
        "Suicidality"
    )
    monitored = page.locator(f'#monitoring li[data-session-id="{in_monitoring}"]')
    expect(monitored.locator(".minutes-left")).to_have_text(
        # dosed 30 min ago over 40 min: 120 min of observation from the infusion's end, in 10
        re.compile(r"^(12\d|13[01]) min left$"),
        timeout=PROJECTED_MS,
    )
    expect(monitored.locator("button.patient-link")).to_have_attribute(
        "data-patient-id", cleared[0]
    )

    # When another intake raises a new alert, it appears without a reload.
    page.evaluate("window.carepathNotReloaded = true")
    newly_flagged = intake_with_phq9_item_9(coordinator, item_9=2)
    new_alert = page.locator(f'#alerts li[data-alert-id][data-patient-id="{newly_flagged}"]')
    expect(new_alert).to_be_visible(timeout=PROJECTED_MS)
    expect(new_alert.locator(".kind")).to_have_text("Suicidality")
    expect(new_alert.locator(".detail")).to_contain_text("item 9")
    assert page.evaluate("window.carepathNotReloaded") is True, "the page reloaded"
    alert_id = new_alert.get_attribute("data-alert-id")

    # Acknowledging it takes it off the list, and the projection agrees.
    new_alert.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(f'#alerts li[data-alert-id="{alert_id}"]')).to_have_count(0)
    wait_until(
        lambda: suicidality_alert(dashboard, newly_flagged) is None,
        timeout=PROJECTED_S,
        what="the acknowledged alert to leave the read model",
    )
    expect(page.locator(f'#alerts li[data-alert-id="{alert_id}"]')).to_have_count(0)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)
    print(f"dashboard screenshot: {ARTIFACTS / 'dashboard.png'}")

    # Selecting a patient opens their timeline.
    page.locator(f'#alerts li[data-patient-id="{flagged}"] button.patient-link').click()
    timeline = page.locator("#timeline")
    expect(timeline).to_be_visible()
    expect(timeline).to_have_attribute("data-patient-id", flagged)
    expect(timeline.locator('li[data-type="PatientReferred"]')).to_have_count(1)
    expect(timeline.locator('li[data-type="SuicidalityFlagRaised"]')).to_have_count(1)

    page.screenshot(path=ARTIFACTS / "dashboard-timeline.png")
    print(f"timeline screenshot: {ARTIFACTS / 'dashboard-timeline.png'}")
    assert problems == []


def test_without_a_token_the_page_asks_to_sign_in(dashboard: ServiceProcess, page: Page) -> None:
    page.goto(f"{dashboard.url}/")
    signin = page.locator("#signin")
    expect(signin).to_be_visible()
    expect(signin).to_contain_text("uv run carepath-token clinician")
    expect(page.locator("#dashboard")).to_be_hidden()


def test_a_token_not_accepted_is_said_so_and_left_nowhere(
    dashboard: ServiceProcess, page: Page
) -> None:
    forged = clinician_token()[:-6] + "AAAAAA"
    page.goto(f"{dashboard.url}/")
    page.get_by_label("Token").fill(forged)
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("#signin-failed")).to_be_visible()
    expect(page).to_have_url(f"{dashboard.url}/")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.context.cookies() == []
    assert forged not in page.content()


def test_a_therapist_sees_the_board_not_the_alerts_and_signs_out(
    dashboard: ServiceProcess, page: Page
) -> None:
    therapist = token(Role.THERAPIST, "therapist-browser")["Authorization"]
    sign_in(page, dashboard.url, therapist.removeprefix("Bearer "))

    expect(page.locator("#signed-in-as")).to_have_text("therapist-browser (therapist)")
    expect(page.locator("#today-section")).to_be_visible()
    expect(page.locator("#funnel-section")).to_be_visible()
    expect(page.locator("#alerts-section")).to_be_hidden()  # not theirs: hidden, not "none"

    page.get_by_role("button", name="Sign out").click()  # a POST with the session's CSRF token

    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.context.cookies() == []
    page.reload()
    expect(page.locator("#signin")).to_be_visible()


@pytest.mark.skipif(DEMO_URL is None, reason="looks at a running `make demo` (make demo-check)")
def test_the_demo_shows_todays_board_and_timelines_that_read_as_a_course(page: Page) -> None:
    """What a newcomer sees after `make demo`: patients in post-dose monitoring with minutes
    left, and a patient's timeline in clinical order. Screenshots go to the test artifacts
    (the README's pictures under docs/ are copies of them)."""
    from carepath.chassis.auth import issue_token
    from carepath.chassis.settings import ServiceSettings

    jwt = issue_token(ServiceSettings(service_name="demo-check"), Role.CLINICIAN, "demo-clinician")
    assert DEMO_URL is not None
    sign_in(page, DEMO_URL.rstrip("/"), jwt)
    expect(page.locator("#connection")).to_have_text("Live", timeout=PROJECTED_MS)
    monitored = page.locator("#monitoring .monitoring-item")
    expect(monitored.first.locator(".minutes-left")).to_have_text(
        re.compile(r"^\d+ min left$"), timeout=PROJECTED_MS
    )
    expect(page.locator("#today-table")).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "demo-dashboard.png", full_page=True)

    monitored.first.locator("button.patient-link").click()
    entries = page.locator("#timeline-entries li.entry")
    expect(entries.first).to_be_visible(timeout=PROJECTED_MS)
    expect(page.locator("#timeline-entries li.entry .late-entry").first).to_be_visible()
    shown = entries.locator("time").evaluate_all("nodes => nodes.map(n => n.dateTime)")
    when = [datetime.fromisoformat(at) for at in shown]
    assert len(when) > 10 and when == sorted(when, reverse=True), shown  # newest first
    types = entries.evaluate_all("nodes => nodes.map(n => n.dataset.type)")
    pathway = ["PatientReferred", "IntakeCompleted", "EligibilityDetermined", "CourseOpened"]
    assert [t for t in reversed(types) if t in pathway] == pathway, types
    assert types[0] in {"DoseAdministered", "VitalsRecorded", "ObservationRecorded"}, types
    page.screenshot(path=ARTIFACTS / "demo-timeline.png")
