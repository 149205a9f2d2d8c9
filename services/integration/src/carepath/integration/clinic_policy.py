"""The integration service's clinic policy: the integration window and the outcome thresholds."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from carepath.chassis.policy_file import PolicyFileError, load_policy_file

DEFAULT_POLICY_FILE = Path(__file__).with_name("clinic_policy.toml")


class IntegrationPolicy(BaseModel):
    """The versioned integration policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=50)
    integration_window_hours: int = Field(ge=1, le=720)
    response_threshold_percent: int = Field(ge=1, le=100)
    remission_below: int = Field(ge=1, le=27)
    overdue_check_seconds: float = Field(gt=0, le=3600)
    late_charting_grace_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)


def load_policy(path: Path = DEFAULT_POLICY_FILE) -> IntegrationPolicy:
    """Read and validate a policy file; `PolicyFileError` says what is wrong and where."""
    return load_policy_file(path, IntegrationPolicy)


__all__ = ["DEFAULT_POLICY_FILE", "IntegrationPolicy", "PolicyFileError", "load_policy"]
