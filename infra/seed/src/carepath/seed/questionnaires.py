"""Item answers that add up to a chosen total, spread the way a patient might answer."""

from random import Random

NO_RISK_CSSRS: tuple[bool | None, ...] = (False, False, None, None, None, False, None)
"""C-SSRS screener answers Q1-Q6, Q6b: no to everything (Q3-Q5 and Q6b not asked)."""
PASSIVE_WISH_CSSRS: tuple[bool | None, ...] = (True, False, None, None, None, False, None)
"""Wish to be dead, no active thoughts: low risk."""
HIGH_RISK_CSSRS: tuple[bool | None, ...] = (True, True, True, True, False, False, None)
"""Active thoughts with a method and some intent (Q4): high risk, a clinician reviews."""

PCL5_CLUSTER_ITEMS = (0, 5, 7, 8, 14, 15)
"""One PCL-5 item of B and C, two of D and E (0-based): endorsed at 2, they meet the DSM-5 rule."""


def phq9(total: int, rng: Random, *, item9: int = 0) -> list[int]:
    """PHQ-9 answers (9 items, 0-3) adding up to `total`; item 9 (self-harm thoughts) as given."""
    item9 = max(item9, total - 24)  # 25-27 only with item 9 above 0
    return [*_spread(total - item9, [0] * 8, 3, rng), item9]


def gad7(total: int, rng: Random) -> list[int]:
    """GAD-7 answers (7 items, 0-3) adding up to `total`."""
    return _spread(total, [0] * 7, 3, rng)


def pcl5_meeting_cluster_rule(total: int, rng: Random) -> list[int]:
    """PCL-5 answers (20 items, 0-4) adding up to `total` (>= 12) that meet the DSM-5 cluster
    rule: B 1 of items 1-5, C 1 of 6-7, D 2 of 8-14, E 2 of 15-20 endorsed (>= 2)."""
    floor = [2 if item in PCL5_CLUSTER_ITEMS else 0 for item in range(20)]
    return _spread(total, floor, 4, rng)


def spread(total: int, items: int, highest: int, rng: Random) -> list[int]:
    """`items` answers 0-`highest` adding up to `total`."""
    return _spread(total, [0] * items, highest, rng)


def _spread(total: int, floor: list[int], highest: int, rng: Random) -> list[int]:
    if not sum(floor) <= total <= highest * len(floor):
        raise ValueError(f"{total} cannot be spread over {len(floor)} items 0-{highest}")
    answers = list(floor)
    while sum(answers) < total:
        room = [item for item, answer in enumerate(answers) if answer < highest]
        answers[rng.choice(room)] += 1
    return answers
