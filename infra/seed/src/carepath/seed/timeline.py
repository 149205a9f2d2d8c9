"""Charted clinic times: whole days before the plan's `today`, at clinic hours, in UTC."""

from datetime import UTC, date, datetime, time, timedelta


def clinic_time(day: date, hour: int, minute: int = 0) -> datetime:
    """`hour:minute` UTC on `day`."""
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def days_before(today: date, days: int) -> date:
    """The date `days` days before `today`."""
    return today - timedelta(days=days)
