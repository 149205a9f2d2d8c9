"""Charted clinical times: what staff record as when something happened."""

from datetime import datetime, time, timedelta

from carepath.chassis.errors import InvalidField
from carepath.contracts.common import EARLIEST_TIME

CLOCK_SKEW = timedelta(minutes=5)
"""A charted time this far ahead of the service clock is a clock difference, not the future."""


def charted(value: datetime | None, now: datetime, field_name: str) -> datetime:
    """A charted time may lie in the past, not before `EARLIEST_TIME` (1900, as the contracts'
    `ChartedTime` already refuses), never in the future (`InvalidField` naming the field);
    when none was charted, it is now."""
    if value is None:
        return now
    if value < EARLIEST_TIME:
        earliest = EARLIEST_TIME.isoformat().replace("+00:00", "Z")
        raise InvalidField(field_name, f"must not be before {earliest}")
    if value > now + CLOCK_SKEW:
        raise InvalidField(field_name, f"must not be in the future (now is {now.isoformat()})")
    return value


def end_of_day(at: datetime) -> datetime:
    """The last second of the day `at` falls on, in its own offset: when a same-day follow-up
    (a suicidality flag) is due."""
    return datetime.combine(at.date(), time(23, 59, 59), at.tzinfo)
