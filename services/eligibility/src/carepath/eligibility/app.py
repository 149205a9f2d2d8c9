"""Eligibility service wiring: settings, clinic policy, intake consumer, routes (:8002)."""

from pathlib import Path

from fastapi import FastAPI

from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings
from carepath.eligibility.api import router
from carepath.eligibility.clinic_policy import DEFAULT_POLICY_FILE, load_policy
from carepath.eligibility.service import Eligibility


class EligibilitySettings(ServiceSettings):
    service_name: str = "eligibility"
    http_port: int = 8002
    eligibility_policy_file: Path = DEFAULT_POLICY_FILE


def create_app(settings: EligibilitySettings | None = None) -> FastAPI:
    """The eligibility web app and its consumer of `carepath.intake.events`."""
    settings = settings or EligibilitySettings()
    policy = load_policy(settings.eligibility_policy_file)  # a bad policy file stops the start
    runtime = ServiceRuntime(settings)
    service = Eligibility(runtime, policy)
    runtime.subscribe(service.on_upstream_event)
    return runtime.create_app(
        "CarePath eligibility",
        [router],
        "Screening rules as clinic policy; review.",
        service=service,
    )


def main() -> None:
    serve("carepath.eligibility.app:create_app", EligibilitySettings(), factory=True)
