"""The bench's one table: each row is what was measured, our figure, the reference, the ratio."""

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

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.reference:
            return None
        return self.ours / self.reference


def not_measured(what: str, reason: str = "not measured yet") -> Row:
    """A row for a comparison this harness does not make yet."""
    return Row(what, None, None, "", unit="", note=reason)


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def print_table(rows: list[Row], title: str, console: Console) -> None:
    """The table on the terminal."""
    table = Table(title=title, show_lines=False)
    for column in ("what", "ours", "reference", "ratio", "note"):
        table.add_column(column, justify="right" if column in ("ours", "ratio") else "left")
    for row in rows:
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
        unit = f" {row.unit}" if row.ours is not None else ""
        reference = (
            f"{_figure(row.reference)} {row.unit} ({row.reference_what})"
            if row.reference is not None
            else row.reference_what or "—"
        )
        table.add_row(row.what, _figure(row.ours) + unit, reference, ratio, row.note)
    console.print(table)


def write_json(rows: list[Row], parameters: dict[str, object], directory: Path) -> Path:
    """The same table as JSON under `directory`, named by the time of the run."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    path = directory / f"{stamp:%Y%m%dT%H%M%SZ}.json"
    document = {
        "recorded_at": stamp.isoformat(),
        "parameters": parameters,
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
