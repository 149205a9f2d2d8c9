"""The session service's clinic policy: course plan, booking horizon, BP limits, dose ranges,
discharge window."""

from decimal import Decimal
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from carepath.chassis.policy_file import PolicyFileError, load_policy_file
from carepath.contracts.session import Route

DEFAULT_POLICY_FILE = Path(__file__).with_name("clinic_policy.toml")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CoursePlan(_Section):
    planned_dosing_sessions: int = Field(ge=1, le=12)
    planned_weeks: int = Field(ge=1, le=12)


class MaintenancePlan(_Section):
    sessions: int = Field(ge=1, le=24)
    min_interval_days: int = Field(ge=1, le=90)
    max_interval_days: int = Field(ge=1, le=180)
    max_boosters: int = Field(default=2, ge=0, le=12)

    @model_validator(mode="after")
    def _interval_in_order(self) -> Self:
        if self.min_interval_days > self.max_interval_days:
            raise ValueError(
                f"min_interval_days {self.min_interval_days} is above max_interval_days "
                f"{self.max_interval_days}"
            )
        return self


class BookingRules(_Section):
    # The default keeps a policy file written before the horizon existed loading; at most ten
    # years, so a booking never nears the contracts' time limit (year 3000).
    horizon_days: int = Field(default=365, ge=1, le=3650)


class CheckInLimits(_Section):
    max_systolic_mmhg: int = Field(ge=90, le=200)
    max_diastolic_mmhg: int = Field(ge=50, le=130)
    valid_minutes: int = Field(default=60, ge=1, le=24 * 60)
    phq9_item9_flag_above: int = Field(default=0, ge=0, le=2)


class MonitoringAlerts(_Section):
    alert_systolic_mmhg: int = Field(ge=90, le=250)
    alert_diastolic_mmhg: int = Field(ge=50, le=150)
    alert_heart_rate_bpm: int = Field(ge=60, le=200)


class DischargeRule(_Section):
    min_observation_minutes: int = Field(ge=0, le=600)
    no_driving_days: int = Field(default=1, ge=0, le=14)
    bp_after_dose_minutes: int = Field(default=40, ge=0, le=600)


class DoseRange(_Section):
    """Per kg of today's weight, or a fixed dose in mg; exactly one of the two."""

    min_mg_per_kg: float | None = Field(default=None, gt=0)
    max_mg_per_kg: float | None = Field(default=None, gt=0)
    min_mg: float | None = Field(default=None, gt=0)
    max_mg: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_complete_range(self) -> Self:
        per_kg = (self.min_mg_per_kg, self.max_mg_per_kg)
        fixed = (self.min_mg, self.max_mg)
        complete = [pair for pair in (per_kg, fixed) if None not in pair]
        given = [pair for pair in (per_kg, fixed) if pair != (None, None)]
        if len(complete) != 1 or len(given) != 1:
            raise ValueError("give min_mg_per_kg and max_mg_per_kg, or min_mg and max_mg")
        low, high = complete[0]
        if low is not None and high is not None and low > high:
            raise ValueError(f"the minimum {low} is above the maximum {high}")
        return self

    @property
    def per_kg(self) -> bool:
        return self.min_mg_per_kg is not None

    def contains(self, dose_mg: float, weight_kg: float) -> bool:
        """Whether the dose lies in the range, in exact decimal arithmetic: 7.24 mg at 72.4 kg is
        0.1 mg/kg, not a float a hair below it."""
        dose = Decimal(str(dose_mg))
        if self.per_kg:
            low, high = Decimal(str(self.min_mg_per_kg)), Decimal(str(self.max_mg_per_kg))
            return low * Decimal(str(weight_kg)) <= dose <= high * Decimal(str(weight_kg))
        return Decimal(str(self.min_mg)) <= dose <= Decimal(str(self.max_mg))

    def describe(self) -> str:
        if self.per_kg:
            return f"{self.min_mg_per_kg}-{self.max_mg_per_kg} mg/kg"
        return f"{self.min_mg:g}-{self.max_mg:g} mg"


class SessionPolicy(_Section):
    """The versioned session policy."""

    version: str = Field(min_length=1, max_length=50)
    course: CoursePlan
    maintenance: MaintenancePlan
    booking: BookingRules = Field(default_factory=BookingRules)
    check_in: CheckInLimits
    monitoring: MonitoringAlerts
    discharge: DischargeRule
    dose_ranges: dict[Route, DoseRange]

    @model_validator(mode="after")
    def _every_route_has_a_range(self) -> Self:
        if missing := sorted(set(Route) - set(self.dose_ranges)):
            raise ValueError(f"dose_ranges lacks {', '.join(missing)}")
        return self


def load_policy(path: Path = DEFAULT_POLICY_FILE) -> SessionPolicy:
    """Read and validate a policy file; `PolicyFileError` says what is wrong and where."""
    return load_policy_file(path, SessionPolicy)


__all__ = ["DEFAULT_POLICY_FILE", "DoseRange", "PolicyFileError", "SessionPolicy", "load_policy"]
