"""The bench's one table: each row is what was measured, our figure, the reference, the ratio."""

import csv
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Row:
    """One comparison. A figure of None means not measured (yet)."""

    what: str
    ours: float | None
    reference: float | None
    reference_what: str
    unit: str = "events/s"
    note: str = ""
    target_ratio: float | None = None  # the target: the ratio reaches it
    target_at_most: float | None = None  # or our figure stays at or under it (ms, MB)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.reference:
            return None
        return self.ours / self.reference

    @property
    def target(self) -> str:
        if self.target_ratio is not None:
            return f"ratio >= {self.target_ratio:g}"
        if self.target_at_most is not None:
            return f"<= {self.target_at_most:g} {self.unit}"
        return ""

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None when the row has none or was not measured."""
        if self.target_ratio is not None and self.ratio is not None:
            return self.ratio >= self.target_ratio
        if self.target_at_most is not None and self.ours is not None:
            return self.ours <= self.target_at_most
        return None


def not_measured(what: str, reason: str = "not measured yet") -> Row:
    """A row for a comparison this harness does not make yet."""
    return Row(what, None, None, "", unit="", note=reason)


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def print_table(
    rows: list[Row], title: str, console: Console, previous: dict[str, float] | None = None
) -> None:
    """The table on the terminal; `previous`: our figures of the last run with the same number
    of events (`last_run`), shown next to this run's."""
    previous = previous or {}
    table = Table(title=title, show_lines=False)
    for column in ("what", "ours", "last run", "reference", "ratio", "target", "note"):
        right = column in ("ours", "last run", "ratio")
        table.add_column(column, justify="right" if right else "left")
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
        unit = f" {row.unit}" if row.ours is not None else ""
        reference = (
            f"{_figure(row.reference)} {row.unit} ({row.reference_what})"
            if row.reference is not None
            else row.reference_what or "—"
        )
        last = _figure(previous.get(row.what))
        met = {True: " [green]met[/green]", False: " [red]not met[/red]", None: ""}[row.met]
        table.add_row(
            row.what, _figure(row.ours) + unit, last, reference, ratio, row.target + met, row.note
        )
    console.print(table)


def write_json(rows: list[Row], parameters: dict[str, object], directory: Path) -> Path:
    """The same table as JSON under `directory`, named by the time of the run."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    path = directory / f"{stamp:%Y%m%dT%H%M%SZ}.json"
    document = {
        "recorded_at": stamp.isoformat(),
        "parameters": parameters,
        "rows": [{**asdict(row), "ratio": row.ratio, "met": row.met} for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


CSV_FIELDS = [
    "recorded_at", "events", "what", "ours", "reference", "ratio", "unit", "target", "met", "note",
]  # fmt: skip


def append_csv(rows: list[Row], parameters: dict[str, object], path: Path) -> None:
    """Append this run's rows to `path` (a header first when the file is new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _upgrade_header(path)
    new = not path.exists()
    stamp = datetime.now(UTC).isoformat()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    "recorded_at": stamp,
                    "events": parameters.get("events"),
                    "what": row.what,
                    "ours": row.ours,
                    "reference": row.reference,
                    "ratio": row.ratio,
                    "unit": row.unit,
                    "target": row.target,
                    "met": row.met,
                    "note": row.note,
                }
            )


def _upgrade_header(path: Path) -> None:
    """A results file written before the columns it lacks gets them (empty), so that every row
    of it reads under one header."""
    if not path.exists():
        return
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames == CSV_FIELDS:
            return
        earlier = list(reader)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(earlier)


def last_run(path: Path, events: int) -> dict[str, float]:
    """Our figures of the latest run in `path` made with the same number of events."""
    if not path.exists():
        return {}
    with path.open(newline="") as file:
        same = [r for r in csv.DictReader(file) if r["events"] == str(events) and r["ours"]]
    if not same:
        return {}
    latest = max(r["recorded_at"] for r in same)
    return {r["what"]: float(r["ours"]) for r in same if r["recorded_at"] == latest}
