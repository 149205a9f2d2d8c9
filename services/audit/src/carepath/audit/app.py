"""Audit service wiring: a consumer of every topic into the trail, and the auditors' API (:8005)."""

from fastapi import FastAPI

from carepath.audit import store  # noqa: F401 (registers the trail table)
from carepath.audit.api import router
from carepath.audit.store import append_entries
from carepath.chassis.consumer import Batched
from carepath.chassis.runtime import ServiceRuntime, serve
from carepath.chassis.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: str = "audit"
    http_port: int = 8005


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    """The audit web app and its consumer of every topic."""
    settings = settings or AuditSettings()
    runtime = ServiceRuntime(settings)
    runtime.subscribe(Batched(append_entries))
    return runtime.create_app(
        "CarePath audit", [router], "The tamper-evident audit trail, for auditors."
    )


def main() -> None:
    serve("carepath.audit.app:create_app", AuditSettings(), factory=True)
