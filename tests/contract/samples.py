"""Generated sample events (polyfactory), valid against their models' constraints."""

import random
from typing import Any, TypeVar

from polyfactory.factories.pydantic_factory import ModelFactory
from pydantic import ValidationError

from carepath.contracts import DomainEvent

E = TypeVar("E", bound=DomainEvent)

# Fields whose values depend on each other beyond what random values satisfy.
CONSISTENT_FIELDS: dict[str, dict[str, Any]] = {
    # v1 carried blood pressure as free text; the upcaster needs a reading v2 accepts
    "carepath.session.VitalsRecorded.v1": {"blood_pressure": "128/82"},
    **{
        f"carepath.session.DoseAdministered.{version}": {
            "policy_min_mg_per_kg": 0.1,
            "policy_max_mg_per_kg": 0.75,
            "policy_min_mg": None,
            "policy_max_mg": None,
            "within_policy_range": True,
        }
        for version in ("v1", "v2")  # v2: the same fields, the rationale sealed
    },
    "carepath.eligibility.EligibilityDetermined.v1": {
        "outcome": "ineligible",
        "indication": None,
        "findings": [
            {
                "rule_id": "no_indication",
                "kind": "no_indication",
                "description": "No indication for KAP under the clinic policy",
                "evidence": [{"field": "referral_reason", "value": "depression"}],
            }
        ],
    },
    "carepath.integration.OutcomeMeasured.v1": {
        "instrument": "PHQ9",
        "item_scores": [2, 2, 2, 1, 1, 1, 1, 0, 0],
        "total": 10,
        "baseline_total": 20,
        "change_from_baseline_percent": -50.0,
        "response": True,
        "remission": False,
        "response_threshold_percent": 50,
        "remission_below": 5,
    },
    "carepath.integration.OutcomeMeasured.v2": {
        "instrument": "PCL5",
        "item_scores": [2] * 10 + [1] * 10,
        "total": 30,
        "baseline_total": 45,
        "change_from_baseline_points": -15,
        "change_from_baseline_percent": -33.3,
        "response": True,
        "substantial_response": None,
        "remission": True,
        "criteria": {"response_reduction_points": 10, "remission_below": 33},
    },
    "carepath.integration.CourseCompleted.v2": {
        "instrument": "PAIN_NRS",
        "final_total": 3,
        "baseline_total": 8,
        "response": True,
        "substantial_response": True,
        "remission": None,
        "criteria": {"response_reduction_percent": 30, "substantial_reduction_percent": 50},
    },
}


def sample_event(model: type[E], *, seed: int = 7, attempts: int = 50) -> E:
    """A valid instance of `model`. Cross-field rules can reject random values, so a few seeds
    are tried; the result is the same on every run."""
    factory: Any = ModelFactory.create_factory(model, __random__=random.Random(seed))
    last: ValidationError | None = None
    for _ in range(attempts):
        try:
            return factory.build(**CONSISTENT_FIELDS.get(model.event_type(), {}))  # type: ignore[no-any-return]
        except ValidationError as error:
            last = error
    raise AssertionError(f"no valid sample of {model.event_type()} in {attempts} attempts: {last}")
