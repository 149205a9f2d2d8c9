"""The plan's clock: the moment the plan is made (`now`) and the clinic's time zone, which says
what "today" is. Past days are charted at clinic hours (local wall time); today's visits count
back from `now`. Times are kept as UTC instants, so durations are exact across DST changes."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


@dataclass(frozen=True)
class ClinicClock:
    """`now` (aware) in the clinic's time zone `zone`."""

    now: datetime
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    @property
    def today(self) -> date:
        """The clinic's date at `now`."""
        return self.now.astimezone(self.zone).date()

    @property
    def midnight(self) -> datetime:
        """The start of the clinic's today (UTC)."""
        return self.at(self.today, 0)

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        """`hour:minute` clinic time on `day`, as a UTC instant."""
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone).astimezone(UTC)

    def days_before(self, days: int) -> date:
        """The clinic date `days` days before today."""
        return self.today - timedelta(days=days)

    def minutes_ago(self, minutes: int) -> datetime:
        """`minutes` before now (UTC)."""
        return self.now.astimezone(UTC) - timedelta(minutes=minutes)

    def relative(self, value: Any) -> Any:
        """`value` (JSON) with its dates and times told from this clock instead of the calendar:
        a date as days from today, a time on today's date as seconds before now, any other time
        as days from today and the clinic's wall-clock time. Equal for plans made on other days,
        at other times of day or in another zone, when they chart the same (`fingerprint`)."""
        if isinstance(value, dict):
            return {key: self.relative(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.relative(item) for item in value]
        if isinstance(value, str) and _ISO_DATE.match(value):
            return f"day {(date.fromisoformat(value) - self.today).days}"
        if isinstance(value, str) and _ISO_DATETIME.match(value):
            local = datetime.fromisoformat(value).astimezone(self.zone)
            if local.date() == self.today:
                return f"now - {int((self.now - local).total_seconds())} s"
            return f"day {(local.date() - self.today).days} {local.time().isoformat()}"
        return value


def squeeze(wanted: list[int], least: list[int], room: int) -> list[int]:
    """Consecutive spans (minutes) that fit in `room`: as `wanted` when they fit, else each
    shortened towards its `least` in proportion to its slack (never below it); as `wanted`
    when even the least would not fit (shortening would not help). Deterministic."""
    excess = sum(wanted) - room
    slack = [want - low for want, low in zip(wanted, least, strict=True)]
    if excess <= 0 or excess > sum(slack):
        return list(wanted)
    cut = [excess * give // sum(slack) for give in slack]
    for index in sorted(range(len(cut)), key=lambda i: -slack[i]):  # the rounding remainder
        if sum(cut) >= excess:
            break
        cut[index] += min(slack[index] - cut[index], excess - sum(cut))
    return [want - c for want, c in zip(wanted, cut, strict=True)]
