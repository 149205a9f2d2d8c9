"""Session service wiring: settings, clinic policy, consumers of eligibility and intake, routes."""

from pathlib import Path

from fastapi import FastAPI

from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings
from carepath.session.api import router
from carepath.session.clinic_policy import DEFAULT_POLICY_FILE, load_policy
from carepath.session.service import Sessions


class SessionSettings(ServiceSettings):
    service_name: str = "session"
    http_port: int = 8003
    session_policy_file: Path = DEFAULT_POLICY_FILE


def create_app(settings: SessionSettings | None = None) -> FastAPI:
    """The session web app, and its consumers (eligibility opens courses; intake's consent
    withdrawal suspends them)."""
    settings = settings or SessionSettings()
    policy = load_policy(settings.session_policy_file)  # a bad policy file stops the start
    runtime = ServiceRuntime(settings)
    service = Sessions(runtime, policy)
    runtime.subscribe(service.on_upstream_event)
    return runtime.create_app(
        "CarePath session",
        [router],
        "Course, preparation, dosing, monitoring, discharge.",
        service=service,
    )


def main() -> None:
    serve("carepath.session.app:create_app", SessionSettings(), factory=True)
