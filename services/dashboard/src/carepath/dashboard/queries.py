"""Reading the read models: the summary the page shows, and a patient's timeline."""

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from carepath.contracts.common import SCORED_ITEMS
from carepath.dashboard.models import (
    AlertView,
    DosingView,
    OutcomeCriteriaView,
    OutcomePoint,
    PatientView,
    TimelineEntry,
)

FUNNEL = (
    ("referred", "Referred"),
    ("intake_complete", "Intake complete"),
    ("screened", "Screened"),
    ("cleared", "Cleared for a course"),
    ("course_opened", "Course opened"),
    ("dosed", "Dosed"),
    ("completed", "Completed"),
)


def _reached(patient: PatientView, stage: str) -> bool:
    return {
        "referred": patient.referred,
        "intake_complete": patient.intake_complete,
        "screened": patient.screening_outcome is not None,
        "cleared": patient.cleared,
        "course_opened": patient.course_opened,
        "dosed": patient.doses_given > 0,
        "completed": patient.completed,
    }[stage]


def funnel(patients: list[PatientView]) -> list[dict[str, Any]]:
    """Patients at each stage, and the conversion from the stage before."""
    rows, previous = [], None
    for stage, label in FUNNEL:
        count = sum(1 for p in patients if _reached(p, stage))
        conversion: float | None = round(count / previous, 3) if previous else None
        rows.append({"stage": stage, "label": label, "patients": count, "conversion": conversion})
        previous = count
    return rows


def board_entry(row: DosingView, now: datetime, observation_minutes: int) -> dict[str, Any]:
    """One session on today's board; until the discharge records the window that applied, the
    clinic policy's `observation_minutes` counts down."""
    minutes = row.min_observation_minutes or observation_minutes
    observed_from = row.administration_ended_at or row.dosed_at
    ends = observed_from + timedelta(minutes=minutes) if observed_from else None
    left = (
        max(0, int((ends - now).total_seconds() // 60))
        if ends and row.status == "monitoring"
        else None
    )
    return {
        "session_id": str(row.session_id),
        "patient_id": str(row.patient_id),
        "session_number": row.session_number,
        "status": row.status,
        "scheduled_for": row.scheduled_for.isoformat(),
        "dosed_at": row.dosed_at.isoformat() if row.dosed_at else None,
        "observation_ends_at": ends.isoformat() if ends else None,
        "minutes_left": left,
        "last_bp": row.last_bp,
    }


def rates(patients: list[PatientView]) -> list[dict[str, Any]]:
    """Response, substantial response and remission among completed courses, by referral reason,
    each judged on the instrument of the indication; a rate is null where it was not judged."""
    by_reason: dict[str, list[PatientView]] = defaultdict(list)
    for patient in patients:
        if patient.completed:
            by_reason[patient.referral_reason or "unknown"].append(patient)
    result = []
    for reason, done in sorted(by_reason.items()):
        instruments = sorted({p.outcome_instrument for p in done if p.outcome_instrument})

        responders, response_rate = _rate(done, "response")
        remitters, remission_rate = _rate(done, "remission")
        substantial, substantial_rate = _rate(done, "substantial_response")
        result.append(
            {
                "referral_reason": reason,
                "instrument": instruments[0] if len(instruments) == 1 else None,
                "completed": len(done),
                "responders": responders,
                "remitters": remitters,
                "substantial_responders": substantial,
                "response_rate": response_rate,
                "remission_rate": remission_rate,
                "substantial_response_rate": substantial_rate,
            }
        )
    return result


async def instruments(session: AsyncSession) -> list[dict[str, Any]]:
    """Each outcome instrument with its scale and the criteria its latest result was judged
    under (from the events: the dashboard holds no clinical numbers of its own)."""
    criteria = {row.instrument: row for row in await session.scalars(select(OutcomeCriteriaView))}
    result = []
    for instrument, (items, highest) in SCORED_ITEMS.items():
        row = criteria.get(instrument.value)
        result.append(
            {
                "instrument": instrument.value,
                "max_total": items * highest,
                "remission_below": row.remission_below if row else None,
                "response_reduction_percent": row.response_reduction_percent if row else None,
                "response_reduction_points": row.response_reduction_points if row else None,
                "substantial_reduction_percent": row.substantial_reduction_percent if row else None,
                "policy_version": row.policy_version if row else None,
            }
        )
    return result


def _rate(patients: list[PatientView], judgement: str) -> tuple[int, float | None]:
    """How many were judged so, and their share of those judged at all (None if none was)."""
    judged = [value for p in patients if (value := getattr(p, judgement)) is not None]
    count = sum(1 for value in judged if value)
    return count, round(count / len(judged), 3) if judged else None


ALERT_SEVERITY = {
    "suicidality": 0,
    "vitals": 1,
    "adverse_event": 1,
    "integration_overdue": 2,
    "booster_indicated": 2,
}
"""Most urgent first: suicidality, then vitals and adverse events, then overdue integration and
indicated boosters."""


def alert_order(alert: AlertView) -> tuple[int, float]:
    """By severity, then newest first."""
    raised = alert.raised_at.timestamp() if alert.raised_at else 0.0
    return ALERT_SEVERITY.get(alert.kind, len(ALERT_SEVERITY)), -raised


def same_day(moment: datetime | None, now: datetime) -> bool:
    """Whether `moment` falls on the day of `now`, in `now`'s time zone (the clinic's)."""
    return moment is not None and moment.astimezone(now.tzinfo).date() == now.date()


def on_todays_board(row: DosingView, now: datetime) -> bool:
    """Booked, dosed or discharged on the clinic's today, or still in post-dose monitoring."""
    return row.status == "monitoring" or any(
        same_day(moment, now) for moment in (row.scheduled_for, row.dosed_at, row.discharged_at)
    )


async def summary(
    session: AsyncSession,
    now: datetime,
    lag: list[dict[str, Any]],
    observation_minutes: int,
    *,
    dead_letters: list[dict[str, Any]],
) -> dict[str, Any]:
    """Everything the page shows, as of `now` (aware, in the clinic's time zone: its date is
    the clinic's today). `lag` and `dead_letters` come from the brokers."""
    patients = list(await session.scalars(select(PatientView)))
    reasons = {p.patient_id: p.referral_reason for p in patients}
    sessions = [
        board_entry(row, now, observation_minutes)
        for row in await session.scalars(select(DosingView).order_by(col(DosingView.scheduled_for)))
        if on_todays_board(row, now)
    ]
    alerts = sorted(
        await session.scalars(
            select(AlertView).where(
                col(AlertView.acknowledged_at).is_(None), col(AlertView.raised_at).is_not(None)
            )
        ),
        key=alert_order,
    )
    points: dict[tuple[UUID, str], list[dict[str, Any]]] = defaultdict(list)
    for point in await session.scalars(
        select(OutcomePoint).order_by(col(OutcomePoint.measured_at))
    ):
        points[point.patient_id, point.instrument].append(
            {
                "at": point.measured_at.isoformat(),
                "total": point.total,
                "timepoint": point.timepoint,
            }
        )
    return {
        "generated_at": now.isoformat(),
        "clinic_today": now.date().isoformat(),
        "clinic_timezone": str(now.tzinfo),
        "funnel": funnel(patients),
        "discontinued": sum(1 for p in patients if p.discontinued),
        "today": sessions,
        "in_monitoring": [s for s in sessions if s["status"] == "monitoring"],
        "alerts": [
            {
                "alert_id": str(a.alert_id),
                "patient_id": str(a.patient_id),
                "kind": a.kind,
                "detail": a.detail,
                "raised_at": a.raised_at.isoformat() if a.raised_at else None,
            }
            for a in alerts
        ],
        "outcomes": {
            "instruments": await instruments(session),
            "trajectories": [
                {
                    "patient_id": str(pid),
                    "referral_reason": reasons.get(pid),
                    "instrument": instrument,
                    "points": pts,
                }
                for (pid, instrument), pts in points.items()
                if len(pts) > 1
            ],
            "rates": rates(patients),
        },
        "lag": lag,
        "dead_letters": dead_letters,
    }


async def timeline(
    session: AsyncSession, patient_id: UUID, late_after: timedelta
) -> list[dict[str, Any]]:
    """A patient's events in clinical order (`at`, when it happened); an entry recorded more
    than `late_after` after it happened is a late entry, as charts mark them."""
    entries = await session.scalars(
        select(TimelineEntry)
        .where(col(TimelineEntry.patient_id) == patient_id)
        .order_by(
            col(TimelineEntry.at), col(TimelineEntry.recorded_at), col(TimelineEntry.sequence)
        )
    )
    return [
        {
            "at": e.at.isoformat(),
            "recorded_at": e.recorded_at.isoformat(),
            "late_entry": e.recorded_at - e.at > late_after,
            "context": e.context,
            "type": e.type,
            "summary": e.summary,
        }
        for e in entries
    ]
