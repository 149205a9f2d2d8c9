"""Today's visits: the few patients the dashboard's "Today" board shows while the seed finishes.

They count back from the plan's `now`, on the clinic's today: in post-dose monitoring (dosed
35-65 minutes ago, so the 2-hour window has a good while left), deferred for blood pressure at
check-in, or discharged 5-20 minutes ago after a dose about 3 hours ago. When the clinic day has
only just begun, the spans between the steps shrink towards the least the session service allows
(`squeeze`), so the visit still starts today when it can; when it cannot (a discharge needs the
whole observation window: before about 03:00 clinic time), the visit keeps its usual spans and
began the evening before. Pure.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from random import Random

from carepath.contracts.session import Route
from carepath.seed.dosing import VisitTimes, least_observation_minutes
from carepath.seed.timeline import ClinicClock, squeeze

MARGIN_MINUTES = 1  # the latest charted time of today lies this long before `now`


class Today(StrEnum):
    """Where a patient's visit today stands when the seed finishes."""

    IN_MONITORING = "in post-dose monitoring"
    DEFERRED = "deferred for BP"
    DISCHARGED = "discharged"


@dataclass(frozen=True)
class TodaysVisit:
    """When today's visit happens; `rebooked_at` when a deferred visit was booked again."""

    times: VisitTimes
    rebooked_at: datetime | None = None


def todays_visit(
    role: Today, route: Route, booked_at: datetime, clock: ClinicClock, rng: Random
) -> TodaysVisit:
    """Today's visit of a patient in `role`, booked (on an earlier day) at `booked_at`."""
    room = int((clock.now - clock.midnight).total_seconds() // 60) - MARGIN_MINUTES
    latest = clock.minutes_ago(MARGIN_MINUTES)
    arrived_early = rng.randint(0, 10)  # scheduled time -> check-in
    waited = rng.randint(10, 15)  # check-in -> dose
    match role:
        case Today.IN_MONITORING:
            since_dose, waited, early = squeeze(
                [rng.randint(35, 65), waited, arrived_early], [3, 1, 0], room
            )
            dosed_at = latest - timedelta(minutes=since_dose)
            checked_in_at = dosed_at - timedelta(minutes=waited)
            scheduled_for = checked_in_at - timedelta(minutes=early)
            return TodaysVisit(
                VisitTimes(booked_at, scheduled_for, checked_in_at, dosed_at, None, latest)
            )
        case Today.DEFERRED:
            checked_in, rebooked_after = rng.randint(25, 100), rng.randint(5, 15)
            since_rebooking, rebooked_after, early = squeeze(
                [checked_in - rebooked_after, rebooked_after, arrived_early], [0, 1, 0], room
            )
            rebooked_at = latest - timedelta(minutes=since_rebooking)
            checked_in_at = rebooked_at - timedelta(minutes=rebooked_after)
            times = VisitTimes(booked_at, checked_in_at - timedelta(minutes=early), checked_in_at)
            return TodaysVisit(times, rebooked_at)
        case Today.DISCHARGED:
            least = least_observation_minutes(route)
            since_discharge, observed, waited, early = squeeze(
                [rng.randint(5, 20), least + rng.randint(5, 30), waited, arrived_early],
                [0, least + 1, 1, 0],
                room,
            )
            discharged_at = latest - timedelta(minutes=since_discharge)
            dosed_at = discharged_at - timedelta(minutes=observed)
            checked_in_at = dosed_at - timedelta(minutes=waited)
            scheduled_for = checked_in_at - timedelta(minutes=early)
            return TodaysVisit(
                VisitTimes(booked_at, scheduled_for, checked_in_at, dosed_at, discharged_at)
            )
