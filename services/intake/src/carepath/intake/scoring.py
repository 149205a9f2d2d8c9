"""Scoring of the intake questionnaires from item answers (never a client's total). Pure."""

from collections.abc import Sequence

from carepath.contracts.common import Instrument, SeverityBand, SuicideRisk
from carepath.contracts.intake import CssrsAnswers, Pcl5Clusters

# Lower edge of each band (Kroenke 2001; Spitzer 2006): PHQ-9 5/10/15/20, GAD-7 5/10/15.
PHQ9_BANDS = (
    (20, SeverityBand.SEVERE),
    (15, SeverityBand.MODERATELY_SEVERE),
    (10, SeverityBand.MODERATE),
    (5, SeverityBand.MILD),
    (0, SeverityBand.MINIMAL),
)
GAD7_BANDS = (
    (15, SeverityBand.SEVERE),
    (10, SeverityBand.MODERATE),
    (5, SeverityBand.MILD),
    (0, SeverityBand.MINIMAL),
)

PCL5_ENDORSED_AT = 2  # an item scored 2 ("moderately") or more counts as a symptom (DSM-5)
PCL5_CLUSTERS = {
    "intrusion_b": (0, 5, 1),
    "avoidance_c": (5, 7, 1),
    "cognition_mood_d": (7, 14, 2),
    "arousal_e": (14, 20, 2),
}  # name: (first item index, end index, items needed)


def band(instrument: Instrument, total: int) -> SeverityBand | None:
    """The severity band of a PHQ-9 or GAD-7 total; None for other instruments."""
    bands = {Instrument.PHQ9: PHQ9_BANDS, Instrument.GAD7: GAD7_BANDS}.get(instrument)
    if bands is None:
        return None
    return next(name for lower_edge, name in bands if total >= lower_edge)


def pcl5_clusters(items: Sequence[int]) -> Pcl5Clusters:
    """Endorsed items per DSM-5 cluster, and whether the cluster rule is met."""
    endorsed = {
        name: sum(1 for score in items[start:end] if score >= PCL5_ENDORSED_AT)
        for name, (start, end, _needed) in PCL5_CLUSTERS.items()
    }
    meets = all(endorsed[name] >= needed for name, (_s, _e, needed) in PCL5_CLUSTERS.items())
    return Pcl5Clusters(**endorsed, meets_dsm5_cluster_rule=meets)


def cssrs_answers(answers: Sequence[int | bool | None]) -> CssrsAnswers:
    """The screener's answers by question (validated by `RecordAssessment`)."""
    q1, q2, q3, q4, q5, q6, q6b = (None if a is None else bool(a) for a in answers)
    return CssrsAnswers(
        wish_to_be_dead_q1=bool(q1),
        suicidal_thoughts_q2=bool(q2),
        thoughts_with_method_q3=q3,
        intent_q4=q4,
        plan_q5=q5,
        suicidal_behaviour_q6=bool(q6),
        behaviour_within_3_months_q6b=q6b,
    )


def cssrs_risk(answers: CssrsAnswers) -> SuicideRisk:
    """High: intent (Q4), a plan (Q5) or behaviour within 3 months (Q6); moderate: thoughts with
    a method (Q3) or behaviour longer ago; low: a wish to be dead or thoughts (Q1, Q2)."""
    if (
        answers.intent_q4
        or answers.plan_q5
        or (answers.suicidal_behaviour_q6 and answers.behaviour_within_3_months_q6b)
    ):
        return SuicideRisk.HIGH
    if answers.thoughts_with_method_q3 or answers.suicidal_behaviour_q6:
        return SuicideRisk.MODERATE
    if answers.wish_to_be_dead_q1 or answers.suicidal_thoughts_q2:
        return SuicideRisk.LOW
    return SuicideRisk.NONE
