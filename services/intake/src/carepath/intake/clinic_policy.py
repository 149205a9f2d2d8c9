"""Intake's clinic policy: thresholds are clinic decisions, loaded from a versioned file."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from carepath.chassis.policy_file import PolicyFileError, load_policy_file
from carepath.contracts.common import Instrument
from carepath.contracts.intake import ReferralReason

DEFAULT_POLICY_FILE = Path(__file__).with_name("clinic_policy.toml")


class IntakePolicy(BaseModel):
    """The thresholds intake decides with; `version` goes into every event that used them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=50)
    pcl5_provisional_threshold: int = Field(ge=0, le=80)
    phq9_item9_flag_above: int = Field(default=0, ge=0, le=2)
    extra_baseline_assessments: dict[ReferralReason, list[Instrument]]

    def baseline_for(self, reason: ReferralReason) -> set[Instrument]:
        """Every assessment intake needs before it is complete, for a referral reason."""
        return {Instrument.PHQ9, Instrument.CSSRS, *self.extra_baseline_assessments.get(reason, [])}


def load_policy(path: Path = DEFAULT_POLICY_FILE) -> IntakePolicy:
    """Read and validate a policy file; `PolicyFileError` says what is wrong and where."""
    return load_policy_file(path, IntakePolicy)


__all__ = ["DEFAULT_POLICY_FILE", "IntakePolicy", "PolicyFileError", "load_policy"]
