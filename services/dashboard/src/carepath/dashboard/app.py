"""Dashboard wiring: consumers of every topic into read models, the page, live updates (:8000)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import Field, SecretStr
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from carepath.chassis.consumer import Batched
from carepath.chassis.kafka import client_config
from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings, is_placeholder
from carepath.dashboard import models  # noqa: F401 (registers the read-model tables)
from carepath.dashboard.api import STATIC, router
from carepath.dashboard.clinic_policy import DEFAULT_POLICY_FILE, load_policy
from carepath.dashboard.projection import project
from carepath.dashboard.readiness import Readiness
from carepath.dashboard.scope import RecentReads
from carepath.dashboard.service import Dashboard, partition_lag
from carepath.dashboard.signin import BrowserSessions
from carepath.dashboard.versions import RUNNING, BuiltByOtherCode, WhenRecorded

log = logging.getLogger(__name__)


class DashboardSettings(ServiceSettings):
    service_name: str = "dashboard"
    http_port: int = 8000
    dashboard_policy_file: Path = DEFAULT_POLICY_FILE
    late_entry_minutes: int = Field(
        default=60,
        ge=0,
        description="A timeline entry recorded this long after it happened is marked late.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies (comma-separated addresses or networks, `*` for any) whose "
        "X-Forwarded-Proto and X-Forwarded-For are believed: the scheme and client address of "
        "a request through the clinic's ingress. From anyone else those headers are ignored.",
    )
    csrf_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key of the CSRF tokens of signed-in browsers; unset: a random key per "
        "process (set one shared key when several dashboard replicas serve the clinic).",
    )
    summary_read_record_minutes: float = Field(
        default=15,
        ge=0,
        description="A caller's read of a patient's data on the summary is recorded once per "
        "this many minutes (the page re-reads it on every live update); 0: every read.",
    )

    def unsafe(self) -> list[str]:
        """Beyond every service's checks: a CSRF key that is a placeholder protects nothing."""
        found = super().unsafe()
        key = self.csrf_key.get_secret_value() if self.csrf_key else ""
        if not self.dev_mode and is_placeholder(key):
            found.append("CAREPATH_CSRF_KEY is a placeholder, not a key")
        return found


def create_app(settings: DashboardSettings | None = None) -> FastAPI:
    """The dashboard web app and its projection consumers."""
    settings = settings or DashboardSettings()
    policy = load_policy(settings.dashboard_policy_file)  # a bad policy file stops the start
    runtime = ServiceRuntime(settings)
    late_entry = timedelta(minutes=settings.late_entry_minutes)
    service = Dashboard(runtime, policy, late_entry)
    config = client_config(settings)
    readiness = Readiness(
        runtime.engine,
        lambda: {
            p: left for p, (_, left) in partition_lag(config, RUNNING.group, "dashboard").items()
        },
    )
    # the running version of the projection: its own consumer group and inbox scope; its first
    # batch waits until the version is recorded and its tables made (`versions`)
    runtime.subscribe(
        Batched(WhenRecorded(project, readiness.recorded)),
        on_applied=service.changes.notify,
        generation=RUNNING.generation,
    )
    runtime.run_in_background(readiness.run)
    # a rolling update keeps the version serving until the new one has caught up
    runtime.readiness_checks["read_models"] = lambda: (
        None if readiness.ready else readiness.describe()
    )
    app = runtime.create_app(
        "CarePath dashboard", [router], "The clinic's live view of the pathway.", service=service
    )
    record_version_at_start(app, readiness)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    sessions = BrowserSessions(
        settings.csrf_key.get_secret_value().encode() if settings.csrf_key else None
    )
    app.state.browser_sessions = sessions
    app.state.browser_session = sessions.token_of  # the dashboard alone accepts its cookie
    app.state.recent_reads = RecentReads(settings.summary_read_record_minutes * 60)
    # Outermost: the scheme and client address behind the clinic's ingress, from it only.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    return app


def record_version_at_start(app: FastAPI, readiness: Readiness) -> None:
    """Once the service's start has brought the schema to its head, record its version of the
    read models; the start fails (uvicorn exits) when other projection code built its tables."""
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with started(app):
            try:
                await readiness.record()
            except BuiltByOtherCode as refused:
                log.critical("the dashboard refuses to start: %s", refused)
                raise
            yield

    app.router.lifespan_context = lifespan


def main() -> None:
    serve("carepath.dashboard.app:create_app", DashboardSettings(), factory=True)
