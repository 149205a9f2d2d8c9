"""Intake service wiring: settings, runtime, routes. Run with `carepath-intake` (port 8001)."""

from fastapi import FastAPI

from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings
from carepath.intake.api import router


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    """The intake web app (a factory, so tests can build one per configuration)."""
    runtime = ServiceRuntime(settings or IntakeSettings())
    return runtime.create_app(
        "CarePath intake", [router], "Referral, intake form, scored assessments, consent."
    )


def main() -> None:
    serve("carepath.intake.app:create_app", IntakeSettings(), factory=True)
