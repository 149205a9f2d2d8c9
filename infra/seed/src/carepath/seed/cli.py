"""`carepath-seed`: drive a synthetic cohort through the running services, as a clinic would.

carepath-seed --patients 50 --seed 7          # against `make up`
carepath-seed --patients 50 --plan-only       # print the plan's stage table, call nothing

"Today" is the clinic's day in CAREPATH_CLINIC_TIMEZONE (an IANA name; default UTC), as for the
services.
"""

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from carepath.chassis.settings import ServiceSettings
from carepath.seed.calls import BadSettings, MissingSigningKey, Tokens, local_settings
from carepath.seed.clinic import Clinic, Endpoints, treat_cohort
from carepath.seed.cohort import CohortPlan, plan_cohort
from carepath.seed.journey import Journey, planned_journey
from carepath.seed.report import stage_table, today_line

console = Console()
app = typer.Typer(add_completion=False, help=__doc__)

Url = Annotated[str, typer.Option(help="Base URL of the service.")]


@app.command()
def seed(
    patients: Annotated[int, typer.Option(min=1, help="How many patients to refer.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same cohort.")] = 7,
    intake_url: Url = "http://127.0.0.1:8001",
    eligibility_url: Url = "http://127.0.0.1:8002",
    session_url: Url = "http://127.0.0.1:8003",
    integration_url: Annotated[
        str, typer.Option(help="Base URL of integration; '' to skip its steps.")
    ] = "http://127.0.0.1:8004",
    in_flight: Annotated[int, typer.Option(min=1, help="Patients in flight at once.")] = 8,
    deadline: Annotated[
        float, typer.Option(help="Seconds to wait for a step another service takes (screening...).")
    ] = 30.0,
    plan_only: Annotated[bool, typer.Option(help="Print the plan; call no service.")] = False,
) -> None:
    """Refer a cohort and take each patient through intake, screening, review, the course and
    its end, over the services' public HTTP APIs. Exits 1 if a service refused the plan."""
    settings = _settings()
    plan = plan_cohort(patients, seed, datetime.now(UTC), settings.clinic_zone)
    where = f"{plan.today.isoformat()}, {plan.timezone}"
    console.print(
        f"Cohort of {patients} patients, seed {seed}: plan [bold]{plan.fingerprint()}[/], "
        f"every charted time before {plan.clock.now.astimezone(settings.clinic_zone):%H:%M} "
        f"on {where}."
    )
    planned = [planned_journey(patient) for patient in plan.patients]
    if plan_only:
        console.print(stage_table(planned, None, integration=True))
        console.print(today_line(planned, None, where))
        return
    endpoints = asyncio.run(_endpoints(intake_url, eligibility_url, session_url, integration_url))
    started = time.monotonic()
    reached = asyncio.run(_treat(plan, endpoints, _tokens(settings), in_flight, deadline))
    elapsed = time.monotonic() - started
    console.print(stage_table(planned, reached, integration=endpoints.integration is not None))
    console.print(today_line(planned, reached, where))
    console.print(f"{len(reached)} patients in {elapsed:.1f} s.")
    if _report_problems(reached):
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the `carepath-seed` script."""
    app()


def _settings() -> ServiceSettings:
    """The settings the services read too (the clinic's time zone, the signing key)."""
    try:
        return local_settings("seed")
    except BadSettings as bad:
        console.print(str(bad), style="red", markup=False)
        raise typer.Exit(2) from None


def _tokens(settings: ServiceSettings) -> Tokens:
    try:
        return Tokens.for_local_services(settings)
    except MissingSigningKey as missing:
        console.print(str(missing), style="red", markup=False)
        raise typer.Exit(2) from None


async def _endpoints(intake: str, eligibility: str, session: str, integration: str) -> Endpoints:
    """The services to use; exits when a required one does not answer, and skips integration
    (saying so) when it is not given or not answering."""
    required = {"intake": intake, "eligibility": eligibility, "session": session}
    async with httpx.AsyncClient(timeout=5) as client:
        for name, url in required.items():
            if problem := await _health(client, url):
                console.print(
                    f"[red]The {name} service at {url} {problem}.[/] Is `make up` running?"
                )
                raise typer.Exit(2)
        problem = await _health(client, integration) if integration else None
    if problem or not integration:
        absent = f"at {integration} {problem}" if integration else "URL not given"
        console.print(
            f"[yellow]Integration service {absent}: skipping integration sessions, outcomes, "
            "completion and discontinuation.[/]"
        )
    return Endpoints(
        intake.rstrip("/"),
        eligibility.rstrip("/"),
        session.rstrip("/"),
        integration.rstrip("/") if integration and not problem else None,
    )


async def _health(client: httpx.AsyncClient, url: str) -> str | None:
    try:
        response = await client.get(f"{url.rstrip('/')}/healthz")
    except httpx.HTTPError as error:
        return f"does not answer ({type(error).__name__})"
    return None if response.status_code == 200 else f"answers {response.status_code}"


async def _treat(
    plan: CohortPlan, endpoints: Endpoints, tokens: Tokens, in_flight: int, deadline: float
) -> list[Journey]:
    limits = httpx.Limits(max_connections=4 * in_flight)
    columns = (TextColumn("patients"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("patients", total=len(plan.patients))
            clinic = Clinic(endpoints, client, tokens, deadline)
            return await treat_cohort(
                clinic, plan, in_flight, lambda _journey: progress.advance(task)
            )


def _report_problems(journeys: list[Journey]) -> bool:
    """Print every refusal (request and answer) and surprise; True if there was any."""
    problems = False
    for journey in sorted(journeys, key=lambda j: j.number):
        who = f"patient {journey.number} ({journey.patient_id or 'not referred'})"
        for surprise in journey.surprises:
            problems = True
            console.print(f"{who}: {surprise}", style="yellow", markup=False)
        if (refusal := journey.refusal) is not None:
            problems = True
            console.print(
                f"{who}: {refusal.method} {refusal.url} -> {refusal.status}",
                style="red",
                markup=False,
            )
            if refusal.body is not None:
                console.print(
                    f"  request: {json.dumps(refusal.body)}", soft_wrap=True, markup=False
                )
            console.print(f"  answer:  {refusal.answer}", soft_wrap=True, markup=False)
    return problems
