"""Dashboard wiring: consumers of every topic into read models, the page, live updates (:8000)."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings
from carepath.dashboard import models  # noqa: F401 (registers the read-model tables)
from carepath.dashboard.api import STATIC, router
from carepath.dashboard.clinic_policy import DEFAULT_POLICY_FILE, load_policy
from carepath.dashboard.projection import project
from carepath.dashboard.service import Dashboard


class DashboardSettings(ServiceSettings):
    service_name: str = "dashboard"
    http_port: int = 8000
    dashboard_policy_file: Path = DEFAULT_POLICY_FILE
    late_entry_minutes: int = Field(
        default=60,
        ge=0,
        description="A timeline entry recorded this long after it happened is marked late.",
    )


def create_app(settings: DashboardSettings | None = None) -> FastAPI:
    """The dashboard web app and its projection consumers."""
    settings = settings or DashboardSettings()
    policy = load_policy(settings.dashboard_policy_file)  # a bad policy file stops the start
    runtime = ServiceRuntime(settings)
    late_entry = timedelta(minutes=settings.late_entry_minutes)
    service = Dashboard(runtime, policy, late_entry)
    runtime.subscribe(project, on_applied=service.changes.notify)
    app = runtime.create_app(
        "CarePath dashboard", [router], "The clinic's live view of the pathway.", service=service
    )
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    return app


def main() -> None:
    serve("carepath.dashboard.app:create_app", DashboardSettings(), factory=True)
