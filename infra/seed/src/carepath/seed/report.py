"""The stage table: how many patients the plan meant to reach each stage, and how many did."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.table import Table

from carepath.contracts.eligibility import EligibilityOutcome, ReviewDecision
from carepath.contracts.integration import DiscontinuationReason
from carepath.seed.journey import Journey
from carepath.seed.today import Today


@dataclass(frozen=True)
class Stage:
    """A row: its label, what one journey adds to it, and whether integration records it."""

    label: str
    count: Callable[[Journey], int]
    by_integration: bool = False


def _dropped_for(reason: DiscontinuationReason) -> Stage:
    return Stage(f"  {reason.value.replace('_', ' ')}", lambda j: j.discontinued is reason, True)


STAGES = (
    Stage("referred", lambda j: j.referred),
    Stage("intake complete", lambda j: j.intake_complete),
    Stage("eligible", lambda j: j.screening is EligibilityOutcome.ELIGIBLE),
    Stage("needs review", lambda j: j.screening is EligibilityOutcome.NEEDS_REVIEW),
    Stage("  approved", lambda j: j.review is ReviewDecision.APPROVE),
    Stage("  declined", lambda j: j.review is ReviewDecision.DECLINE),
    Stage("ineligible", lambda j: j.screening is EligibilityOutcome.INELIGIBLE),
    Stage("course opened", lambda j: j.course_opened),
    Stage("dosed at least once", lambda j: j.doses > 0),
    Stage("sessions deferred for BP", lambda j: j.deferrals),
    Stage("discharged sessions", lambda j: j.discharges),
    Stage("adverse events", lambda j: j.adverse_events),
    Stage("integration sessions", lambda j: j.integration_sessions or 0, True),
    Stage("completed", lambda j: j.completed, True),
    Stage("discontinued", lambda j: j.discontinued is not None, True),
    *(_dropped_for(reason) for reason in DiscontinuationReason),
    Stage("still in course", lambda j: j.in_course, True),
    Stage("  in a maintenance phase", lambda j: j.maintenance is True, True),
    Stage("responders (PHQ-9 halved)", lambda j: j.response is True, True),
    Stage("remitters (PHQ-9 < 5)", lambda j: j.remission is True, True),
)


def stage_table(
    planned: Sequence[Journey], reached: Sequence[Journey] | None, *, integration: bool
) -> Table:
    """Planned and reached counts per stage; `reached` None for a plan-only run."""
    table = Table(title="Patients (and sessions) by stage")
    table.add_column("stage")
    table.add_column("planned", justify="right")
    if reached is not None:
        table.add_column("reached", justify="right")
    for stage in STAGES:
        row = [stage.label, str(sum(stage.count(j) for j in planned))]
        if reached is not None:
            skipped = stage.by_integration and not integration
            done = sum(stage.count(j) for j in reached)
            row.append("skipped" if skipped else _marked(done, int(row[1])))
        table.add_row(*row)
    return table


def _marked(done: int, planned: int) -> str:
    return str(done) if done == planned else f"[bold red]{done}[/]"


def today_line(planned: Sequence[Journey], reached: Sequence[Journey] | None, where: str) -> str:
    """How many patients are on today's board (`where`: the clinic's date and zone): in
    post-dose monitoring, deferred today, discharged today, as reached (in red, with the plan's
    count beside it, where it differs); the plan's counts for a plan-only run."""
    counts = []
    for role in Today:
        meant = sum(j.today is role for j in planned)
        done = meant if reached is None else sum(j.today is role for j in reached)
        counts.append(f"{_marked(done, meant)}{'' if done == meant else f' of {meant}'} {role}")
    return f"Today ({where}): {', '.join(counts)}."
