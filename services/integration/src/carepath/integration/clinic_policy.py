"""The integration service's clinic policy: the integration window, and how each indication's
outcome is measured and judged."""

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from carepath.chassis.policy_file import PolicyFileError, load_policy_file
from carepath.contracts.common import Instrument
from carepath.contracts.intake import ReferralReason
from carepath.contracts.integration import OUTCOME_ITEMS, OutcomeCriteria

DEFAULT_POLICY_FILE = Path(__file__).with_name("clinic_policy.toml")


class InstrumentCriteria(OutcomeCriteria):
    """An instrument's outcome criteria as the policy file gives them: a misspelt key is an
    error here, although the event that carries them ignores unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class IntegrationPolicy(BaseModel):
    """The versioned integration policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=50)
    integration_window_hours: int = Field(ge=1, le=720)
    overdue_check_seconds: float = Field(gt=0, le=3600)
    late_charting_grace_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    phq9_item9_flag_above: int = Field(default=0, ge=0, le=2)
    indication_instrument: dict[ReferralReason, Instrument]
    outcomes: dict[Instrument, InstrumentCriteria]

    @model_validator(mode="after")
    def _every_indication_is_measured(self) -> Self:
        if missing := sorted(set(ReferralReason) - set(self.indication_instrument)):
            raise ValueError(f"indication_instrument lacks {', '.join(missing)}")
        if unscored := sorted(set(self.outcomes) - set(OUTCOME_ITEMS)):
            raise ValueError(
                f"outcomes names instruments that are not outcome measures: {unscored}"
            )
        if unjudged := sorted(set(OUTCOME_ITEMS) - set(self.outcomes)):
            raise ValueError(f"outcomes lacks the criteria of {', '.join(unjudged)}")
        if unmeasured := sorted(set(self.indication_instrument.values()) - set(OUTCOME_ITEMS)):
            raise ValueError(f"indication_instrument names no outcome measure: {unmeasured}")
        for instrument, criteria in self.outcomes.items():
            items, highest = OUTCOME_ITEMS[instrument]
            for name in ("remission_below", "booster_above"):
                value = getattr(criteria, name)
                if value is not None and value > items * highest:
                    raise ValueError(
                        f"outcomes.{instrument}.{name} {value} is above its highest total "
                        f"{items * highest}"
                    )
        return self

    def criteria_for(self, instrument: Instrument) -> OutcomeCriteria:
        """How `instrument`'s results are judged (every outcome measure has criteria)."""
        return self.outcomes[instrument]


def load_policy(path: Path = DEFAULT_POLICY_FILE) -> IntegrationPolicy:
    """Read and validate a policy file; `PolicyFileError` says what is wrong and where."""
    return load_policy_file(path, IntegrationPolicy)


__all__ = ["DEFAULT_POLICY_FILE", "IntegrationPolicy", "PolicyFileError", "load_policy"]
