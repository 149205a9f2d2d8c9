"""What each role sees of `/api/summary`, and which patients' data that shows (recorded as read).

| section        | clinician | nurse | therapist | intake coordinator | auditor |
|----------------|:---------:|:-----:|:---------:|:------------------:|:-------:|
| `funnel`       |     ✓     |   ✓   |     ✓     |         ✓          |    ✓    |
| `today`        |     ✓     |   ✓   |     ✓     |                    |         |
| `alerts`       |     ✓     |   ✓   |           |                    |         |
| `trajectories` |     ✓     |       |     ✓     |                    |         |
| `rates`        |     ✓     |   ✓   |     ✓     |                    |    ✓    |
| `operations`   |     ✓     |   ✓   |     ✓     |         ✓          |    ✓    |

- `funnel`: patients per pathway stage and the discontinued (counts only);
- `today`: today's board and who is in post-dose monitoring (patient ids, status, last BP);
- `alerts`: open safety alerts (patient ids, the scores or vitals that raised them);
- `trajectories`: each patient's outcome scores over time (patient ids, referral reasons);
- `rates`: response and remission rates by referral reason, the instruments' criteria;
- `operations`: projection lag per topic and dead-letter counts (no patient data).

Clinicians see everything; nurses what monitoring and alert follow-up need; therapists the board
(they sit in dosing sessions) and the outcomes they work on in integration; intake coordinators
the pathway's counts without any score; auditors aggregates and lag, no patient's clinical data
(they read a patient's record through the audit trail, where that read is itself recorded).
A section a role does not see is absent from the answer (not empty: "no alerts" must not be
read as "no alerts for anyone"); `sections` lists those present.

Every patient in `today`, `alerts` or `trajectories` is recorded as read (`RecordAccessed`) before
the answer leaves. The page re-reads the summary on every live update, so a caller's read of one
patient's data category is recorded at most once per `summary_read_record_minutes` (in memory, per
process: a restart or another replica records it again, never less than once per window).
"""

import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any
from uuid import UUID

from carepath.chassis.auth import Principal, Role
from carepath.contracts.access import DataCategory


class Section(StrEnum):
    FUNNEL = "funnel"
    TODAY = "today"
    ALERTS = "alerts"
    TRAJECTORIES = "trajectories"
    RATES = "rates"
    OPERATIONS = "operations"


S = Section
SECTIONS: dict[Role, frozenset[Section]] = {
    Role.CLINICIAN: frozenset(Section),
    Role.NURSE: frozenset({S.FUNNEL, S.TODAY, S.ALERTS, S.RATES, S.OPERATIONS}),
    Role.THERAPIST: frozenset({S.FUNNEL, S.TODAY, S.TRAJECTORIES, S.RATES, S.OPERATIONS}),
    Role.INTAKE_COORDINATOR: frozenset({S.FUNNEL, S.OPERATIONS}),
    Role.AUDITOR: frozenset({S.FUNNEL, S.RATES, S.OPERATIONS}),
}
"""The table above; a role not in it sees nothing (and may not call the summary at all)."""

ALERT_CATEGORY = {
    "suicidality": DataCategory.ASSESSMENTS,
    "vitals": DataCategory.SESSION_CLINICAL,
    "adverse_event": DataCategory.SESSION_CLINICAL,
    "integration_overdue": DataCategory.INTEGRATION_NOTES,
    "booster_indicated": DataCategory.OUTCOMES,
}

Shown = dict[UUID, set[DataCategory]]
"""Which data categories of which patients an answer shows."""


def scoped_summary(summary: dict[str, Any], role: Role) -> tuple[dict[str, Any], Shown]:
    """The part of the full summary that `role` sees, and the patients' data it shows."""
    sections = SECTIONS.get(role, frozenset())
    scoped: dict[str, Any] = {
        key: summary[key] for key in ("generated_at", "clinic_today", "clinic_timezone")
    }
    scoped["sections"] = sorted(sections)
    shown: Shown = {}
    if S.FUNNEL in sections:
        scoped |= {"funnel": summary["funnel"], "discontinued": summary["discontinued"]}
    if S.TODAY in sections:
        scoped |= {"today": summary["today"], "in_monitoring": summary["in_monitoring"]}
        _show(shown, (s["patient_id"] for s in summary["today"]), DataCategory.SESSION_CLINICAL)
    if S.ALERTS in sections:
        scoped["alerts"] = summary["alerts"]
        for alert in summary["alerts"]:
            category = ALERT_CATEGORY.get(alert["kind"], DataCategory.SESSION_CLINICAL)
            _show(shown, [alert["patient_id"]], category)
    outcomes = summary["outcomes"]
    if sections & {S.TRAJECTORIES, S.RATES}:
        scoped["outcomes"] = {"instruments": outcomes["instruments"]}
    if S.TRAJECTORIES in sections:
        scoped["outcomes"]["trajectories"] = outcomes["trajectories"]
        _show(shown, (t["patient_id"] for t in outcomes["trajectories"]), DataCategory.OUTCOMES)
    if S.RATES in sections:
        scoped["outcomes"]["rates"] = outcomes["rates"]
    if S.OPERATIONS in sections:
        scoped |= {"lag": summary["lag"], "dead_letters": summary["dead_letters"]}
    return scoped, shown


def _show(shown: Shown, patient_ids: Iterable[str], category: DataCategory) -> None:
    for patient_id in patient_ids:
        shown.setdefault(UUID(patient_id), set()).add(category)


class RecentReads:
    """Which caller read which patient's data category when (recorded), so that a page that
    re-reads on every update is recorded once per `window_s`, not on every refresh."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._recorded: dict[tuple[str, str, UUID, DataCategory], float] = {}
        self._pruned_at = clock()

    def claim(self, caller: Principal, shown: Shown) -> Shown:
        """Of what `shown` holds, what is to be recorded now (not recorded for `caller` within
        the window); claimed as recorded from now on (`release` it if recording fails)."""
        now = self._clock()
        self._prune(now)
        due: Shown = {}
        for patient_id, categories in shown.items():
            for category in categories:
                key = (caller.user_id, caller.role.value, patient_id, category)
                if (at := self._recorded.get(key)) is not None and now - at < self.window_s:
                    continue
                self._recorded[key] = now
                due.setdefault(patient_id, set()).add(category)
        return due

    def release(self, caller: Principal, claimed: Shown) -> None:
        """Forget a claim whose recording failed: the next read records it."""
        for patient_id, categories in claimed.items():
            for category in categories:
                self._recorded.pop((caller.user_id, caller.role.value, patient_id, category), None)

    def _prune(self, now: float) -> None:
        """Drop what is older than the window, at most once per window (bounded memory)."""
        if now - self._pruned_at < self.window_s:
            return
        self._recorded = {k: at for k, at in self._recorded.items() if now - at < self.window_s}
        self._pruned_at = now
