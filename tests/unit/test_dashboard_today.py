"""Today's board is the clinic's day in its time zone (CAREPATH_CLINIC_TIMEZONE), not the UTC
date: a session of the clinic's morning is still today's in its afternoon."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from carepath.chassis.settings import ServiceSettings
from carepath.dashboard.clinic_policy import load_policy
from carepath.dashboard.models import AlertView, DosingView
from carepath.dashboard.queries import alert_order, board_entry, on_todays_board

LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def dosing(status: str, scheduled_for: datetime, dosed_at: datetime | None = None) -> DosingView:
    return DosingView(
        session_id=uuid4(),
        patient_id=uuid4(),
        session_number=1,
        scheduled_for=scheduled_for,
        status=status,
        dosed_at=dosed_at,
    )


def test_this_mornings_session_stays_on_the_board_after_the_utc_date_has_moved_on() -> None:
    morning = datetime(2026, 11, 28, 8, 30, tzinfo=LOS_ANGELES)  # 16:30 UTC on the 28th
    now = datetime(2026, 11, 28, 17, 0, tzinfo=LOS_ANGELES)  # 01:00 UTC on the 29th
    row = dosing("discharged", morning.astimezone(UTC), morning.astimezone(UTC))
    assert on_todays_board(row, now)
    assert not on_todays_board(row, now.astimezone(UTC))  # by the UTC date it was yesterday


def test_yesterdays_discharged_session_is_off_the_board_but_monitoring_never_is() -> None:
    now = datetime(2026, 11, 28, 9, 0, tzinfo=LOS_ANGELES)
    yesterday = datetime(2026, 11, 27, 15, 0, tzinfo=LOS_ANGELES)
    assert not on_todays_board(dosing("discharged", yesterday, yesterday), now)
    assert on_todays_board(dosing("monitoring", yesterday, yesterday), now)


def test_the_clinic_time_zone_is_read_from_the_environment_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREPATH_CLINIC_TIMEZONE", "America/Los_Angeles")
    assert ServiceSettings(service_name="dashboard").clinic_zone == LOS_ANGELES
    monkeypatch.setenv("CAREPATH_CLINIC_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus_Mons'"):
        ServiceSettings(service_name="dashboard")


def test_the_clinic_time_zone_defaults_to_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREPATH_CLINIC_TIMEZONE", raising=False)
    assert ServiceSettings(service_name="dashboard").clinic_zone == ZoneInfo("UTC")


def test_the_countdown_uses_the_clinic_policys_window_until_the_discharge_says_which_applied() -> (
    None
):
    dosed = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    row = dosing("monitoring", dosed, dosed)
    now = dosed + timedelta(minutes=30)
    assert board_entry(row, now, observation_minutes=180)["minutes_left"] == 150
    assert load_policy().observation_minutes == 120  # the default file, as session's policy


def test_after_an_infusion_the_countdown_runs_from_its_end() -> None:
    dosed = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    row = dosing("monitoring", dosed, dosed)
    row.administration_ended_at = dosed + timedelta(minutes=40)
    entry = board_entry(row, dosed + timedelta(minutes=60), observation_minutes=120)
    assert entry["minutes_left"] == 100


def test_alerts_are_ordered_most_urgent_kind_first_then_newest() -> None:
    at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def alert(kind: str, minutes: int) -> AlertView:
        return AlertView(
            alert_id=uuid4(),
            patient_id=uuid4(),
            kind=kind,
            raised_at=at + timedelta(minutes=minutes),
        )

    alerts = [
        alert("integration_overdue", 50),
        alert("vitals", 40),
        alert("suicidality", 10),
        alert("adverse_event", 45),
        alert("suicidality", 20),
    ]
    ordered = [(a.kind, a.raised_at.minute) for a in sorted(alerts, key=alert_order)]
    assert ordered == [
        ("suicidality", 20),
        ("suicidality", 10),
        ("adverse_event", 45),
        ("vitals", 40),
        ("integration_overdue", 50),
    ]
