"""Intake service wiring: settings, clinic policy, runtime, routes. `carepath-intake` (:8001)."""

from pathlib import Path

from fastapi import FastAPI

from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings
from carepath.intake.api import router
from carepath.intake.clinic_policy import DEFAULT_POLICY_FILE, load_policy
from carepath.intake.service import Intake


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    owns_key_store: bool = True  # the patients' data keys live with the referrals
    intake_policy_file: Path = DEFAULT_POLICY_FILE


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    """The intake web app (a factory, so tests can build one per configuration)."""
    settings = settings or IntakeSettings()
    policy = load_policy(settings.intake_policy_file)  # a bad policy file stops the start, clearly
    runtime = ServiceRuntime(settings)
    service = Intake(runtime, policy)
    return runtime.create_app(
        "CarePath intake",
        [router],
        "Referral, intake form, scored assessments, consent.",
        service=service,
    )


def main() -> None:
    serve("carepath.intake.app:create_app", IntakeSettings(), factory=True)
