"""Integration service wiring: settings, policy, consumers of intake and session, overdue sweep."""

from pathlib import Path

from fastapi import FastAPI

from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings
from carepath.integration.api import router
from carepath.integration.clinic_policy import DEFAULT_POLICY_FILE, load_policy
from carepath.integration.service import Integration


class IntegrationSettings(ServiceSettings):
    service_name: str = "integration"
    http_port: int = 8004
    integration_policy_file: Path = DEFAULT_POLICY_FILE


def create_app(settings: IntegrationSettings | None = None) -> FastAPI:
    """The integration web app, its consumers and its overdue sweep."""
    settings = settings or IntegrationSettings()
    policy = load_policy(settings.integration_policy_file)
    runtime = ServiceRuntime(settings)
    service = Integration(runtime, policy)
    runtime.subscribe(service.on_upstream_event)
    runtime.run_in_background(service.sweep_overdue)
    return runtime.create_app(
        "CarePath integration",
        [router],
        "Integration sessions, outcomes, completion.",
        service=service,
    )


def main() -> None:
    serve("carepath.integration.app:create_app", IntegrationSettings(), factory=True)
