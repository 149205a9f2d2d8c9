"""`carepath-seed-check`: after `make demo`, does the dashboard show the cohort the seed planned?

carepath-seed-check                            # the cohort `make demo` seeds (50 patients, 2026)
carepath-seed-check --patients 12 --seed 7 --deadline 30

It plans the cohort again (its funnel does not depend on the day), then polls the dashboard's
`GET /api/summary` as a clinician until the funnel matches the plan stage for stage, the
discontinued count matches, and today's board is not empty (someone in post-dose monitoring with
minutes left, each planned patient in monitoring, the deferred and the discharged visit).
Exits 0 with the funnel side by side, or 1 at the deadline with what differs. The
dashboard must hold this cohort only: a second seed run adds its patients to the counts.
"""

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from carepath.chassis.auth import Role
from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision
from carepath.seed.calls import BadSettings, MissingSigningKey, Tokens, local_settings
from carepath.seed.cohort import plan_cohort
from carepath.seed.journey import Journey, planned_journey
from carepath.seed.today import Today

POLL_SECONDS = 0.5
LATEST_SQUEEZED_HOUR = 4  # before 04:00 the discharged visit may have begun the evening before
CHECKER = (Role.CLINICIAN, "seed-check")

FUNNEL: dict[str, Callable[[Journey], bool]] = {
    "referred": lambda j: j.referred,
    "intake_complete": lambda j: j.intake_complete,
    "screened": lambda j: j.screening is not None,
    "cleared": lambda j: (
        j.screening is EligibilityOutcome.ELIGIBLE or j.review is ReviewDecision.APPROVE
    ),
    "course_opened": lambda j: j.course_opened,
    "dosed": lambda j: j.doses > 0,
    "completed": lambda j: j.completed,
}
"""The dashboard's funnel stages (dashboard queries `FUNNEL`), as the plan reaches them."""
DISCONTINUED = "discontinued"

console = Console()
app = typer.Typer(add_completion=False, help=__doc__)


def planned_counts(journeys: Sequence[Journey]) -> dict[str, int]:
    """Patients the plan takes to each funnel stage, and how many it discontinues."""
    counts = {stage: sum(reached(j) for j in journeys) for stage, reached in FUNNEL.items()}
    counts[DISCONTINUED] = sum(j.discontinued is not None for j in journeys)
    return counts


def shown_counts(summary: dict[str, Any]) -> dict[str, int]:
    """The same counts as the dashboard's summary shows them (stages it lacks are absent)."""
    shown = {
        str(row["stage"]): int(row["patients"])
        for row in summary.get("funnel", [])
        if isinstance(row, dict) and "stage" in row and "patients" in row
    }
    if isinstance(summary.get(DISCONTINUED), int):
        shown[DISCONTINUED] = summary[DISCONTINUED]
    return shown


def funnel_differences(planned: dict[str, int], summary: dict[str, Any]) -> list[str]:
    """Each stage where the dashboard's count is not the planned one, in funnel order."""
    shown = shown_counts(summary)
    return [
        f"{stage}: planned {count}, dashboard {shown.get(stage, 'nothing')}"
        for stage, count in planned.items()
        if shown.get(stage) != count
    ]


def planned_today(journeys: Sequence[Journey]) -> Counter[Today]:
    """How many patients the plan leaves in each of today's roles."""
    return Counter(j.today for j in journeys if j.today is not None)


def board_problems(
    summary: dict[str, Any], planned: Mapping[Today, int] | None = None
) -> list[str]:
    """What is missing from today's board: any session today, someone in post-dose monitoring
    whose observation window still has minutes left; with `planned` (today's roles), every
    planned patient in monitoring with minutes left, and the deferred and discharged visits of
    today (the discharged one only from 04:00 clinic time: the seed may have had to start it the
    evening before)."""
    problems = [] if planned is None else _planned_board_problems(summary, planned)
    if not summary.get("today"):
        problems.append("today's board is empty: no dosing sessions today")
    monitoring = summary.get("in_monitoring") or []
    if not any((entry.get("minutes_left") or 0) > 0 for entry in monitoring):
        problems.append(
            "nobody in post-dose monitoring with minutes left "
            f"({len(monitoring)} in monitoring: minutes left "
            f"{[entry.get('minutes_left') for entry in monitoring]})"
        )
    return problems


def _planned_board_problems(summary: dict[str, Any], planned: Mapping[Today, int]) -> list[str]:
    problems = []
    monitoring = [e for e in summary.get("in_monitoring") or [] if (e.get("minutes_left") or 0) > 0]
    if len(monitoring) != planned.get(Today.IN_MONITORING, 0):
        problems.append(
            f"in post-dose monitoring with minutes left: planned "
            f"{planned.get(Today.IN_MONITORING, 0)}, dashboard {len(monitoring)}"
        )
    statuses = Counter(str(entry.get("status")) for entry in summary.get("today") or [])
    clinic_now = datetime.fromisoformat(str(summary.get("generated_at", "1970-01-01T12:00+00:00")))
    wanted = {"deferred": Today.DEFERRED}
    if clinic_now.hour >= LATEST_SQUEEZED_HOUR:
        wanted["discharged"] = Today.DISCHARGED
    for status, role in wanted.items():
        if planned.get(role, 0) and statuses[status] < planned[role]:
            problems.append(
                f"{status} today: planned {planned[role]}, dashboard {statuses[status]}"
            )
    return problems


def problems_with(
    planned: dict[str, int], summary: dict[str, Any], today: Mapping[Today, int] | None = None
) -> list[str]:
    """Everything that keeps the dashboard from matching the plan; empty when it does."""
    return funnel_differences(planned, summary) + board_problems(summary, today)


@app.command()
def check(
    patients: Annotated[int, typer.Option(min=1, help="Patients the seed referred.")] = 50,
    seed: Annotated[int, typer.Option(help="The seed's random seed.")] = 2026,
    dashboard_url: Annotated[
        str, typer.Option(help="Base URL of the dashboard.")
    ] = "http://127.0.0.1:8000",
    deadline: Annotated[
        float, typer.Option(min=0, help="Seconds to wait for the dashboard to catch up.")
    ] = 60.0,
) -> None:
    """Poll the dashboard until it shows the planned cohort; exit 1 if it does not in time."""
    try:
        settings = local_settings("seed-check")
        tokens = Tokens.for_local_services(settings)
    except (BadSettings, MissingSigningKey) as unusable:
        console.print(str(unusable), style="red", markup=False)
        raise typer.Exit(2) from None
    plan = plan_cohort(patients, seed, datetime.now(UTC), settings.clinic_zone)
    journeys = [planned_journey(patient) for patient in plan.patients]
    planned, today = planned_counts(journeys), planned_today(journeys)
    url = f"{dashboard_url.rstrip('/')}/api/summary"
    started = time.monotonic()
    summary, problems = _poll(url, tokens.headers(*CHECKER), planned, today, started + deadline)
    waited = time.monotonic() - started
    console.print(_side_by_side(planned, summary))
    if summary is not None:
        console.print(_board(summary))
    if problems:
        console.print(
            f"[red]The dashboard at {dashboard_url} does not show the cohort of {patients} "
            f"patients (seed {seed}) after {waited:.1f} s:[/]"
        )
        for problem in problems:
            console.print(f"  {problem}", markup=False)
        raise typer.Exit(1)
    console.print(f"[green]The dashboard shows the planned cohort[/] ({waited:.1f} s).")


def main() -> None:
    """Entry point of the `carepath-seed-check` script."""
    app()


def _poll(
    url: str,
    headers: dict[str, str],
    planned: dict[str, int],
    today: Mapping[Today, int],
    deadline: float,
) -> tuple[dict[str, Any] | None, list[str]]:
    """The last summary read and what still differs, once nothing does or at `deadline`."""
    summary: dict[str, Any] | None = None
    problems = ["the dashboard did not answer"]
    with httpx.Client(timeout=10) as client:
        while True:
            try:
                response = client.get(url, headers=headers)
            except httpx.TransportError as error:
                problems = [f"GET {url}: {type(error).__name__}: {error}"]
            else:
                if response.status_code in (401, 403):
                    return None, [f"GET {url} -> {response.status_code}: {response.text}"]
                if response.status_code == 200:
                    summary = response.json()
                    problems = problems_with(planned, summary, today)
                else:
                    problems = [f"GET {url} -> {response.status_code}: {response.text[:300]}"]
            if not problems or time.monotonic() >= deadline:
                return summary, problems
            time.sleep(POLL_SECONDS)


def _side_by_side(planned: dict[str, int], summary: dict[str, Any] | None) -> Table:
    shown = shown_counts(summary) if summary is not None else {}
    table = Table(title="Funnel: planned and on the dashboard")
    table.add_column("stage")
    table.add_column("planned", justify="right")
    table.add_column("dashboard", justify="right")
    for stage, count in planned.items():
        seen = shown.get(stage)
        text = "-" if seen is None else str(seen)
        table.add_row(stage, str(count), text if seen == count else f"[bold red]{text}[/]")
    return table


def _board(summary: dict[str, Any]) -> str:
    today = summary.get("today") or []
    monitoring = summary.get("in_monitoring") or []
    left = ", ".join(str(entry.get("minutes_left")) for entry in monitoring) or "none"
    statuses = sorted({str(entry.get("status")) for entry in today})
    return (
        f"Today's board: {len(today)} sessions ({', '.join(statuses) or 'none'}); "
        f"{len(monitoring)} in post-dose monitoring, minutes left: {left}."
    )
