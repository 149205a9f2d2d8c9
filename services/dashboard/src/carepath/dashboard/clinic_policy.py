"""The dashboard's clinic policy: the observation window it counts down for a patient in
monitoring before the discharge says which window applied."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from carepath.chassis.policy_file import PolicyFileError, load_policy_file

DEFAULT_POLICY_FILE = Path(__file__).with_name("clinic_policy.toml")


class DashboardPolicy(BaseModel):
    """The versioned dashboard policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=50)
    observation_minutes: int = Field(ge=0, le=600)


def load_policy(path: Path = DEFAULT_POLICY_FILE) -> DashboardPolicy:
    """Read and validate a policy file; `PolicyFileError` says what is wrong and where."""
    return load_policy_file(path, DashboardPolicy)


__all__ = ["DEFAULT_POLICY_FILE", "DashboardPolicy", "PolicyFileError", "load_policy"]
