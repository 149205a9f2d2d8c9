"""Commands and events of the intake context (`carepath.intake.events`)."""

from datetime import UTC, date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from carepath.contracts.events import DomainEvent, registry

EARLIEST_DATE_OF_BIRTH = date(1900, 1, 1)


class ReferralReason(StrEnum):
    """Why the patient was referred; decides which assessments intake asks for."""

    DEPRESSION = "depression"
    PTSD = "ptsd"
    ANXIETY = "anxiety"
    CHRONIC_PAIN = "chronic_pain"


class Referral(BaseModel):
    """What a referral says about the patient. Personal data (PHI): names, birth date, contact."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    given_name: str = Field(min_length=1, max_length=100, description="Given name (PHI).")
    family_name: str = Field(min_length=1, max_length=100, description="Family name (PHI).")
    date_of_birth: date = Field(
        description="Date of birth (PHI), ISO 8601 date, not in the future."
    )
    referral_reason: ReferralReason = Field(description="Why the patient was referred.")
    referrer: str = Field(
        min_length=1, max_length=200, description="Referring clinician or organisation."
    )
    contact: str | None = Field(
        default=None, max_length=200, description="Phone or e-mail for the patient (PHI)."
    )

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_date_of_birth(cls, value: date) -> date:
        # Checked against today's date: a date that was past when recorded stays past on replay.
        today = datetime.now(UTC).date()
        if value > today:
            raise ValueError(f"must not be in the future (today is {today.isoformat()})")
        if value < EARLIEST_DATE_OF_BIRTH:
            raise ValueError(f"must be on or after {EARLIEST_DATE_OF_BIRTH.isoformat()}")
        return value


class ReferPatient(Referral):
    """Command: open a patient's record from a referral."""

    patient_id: UUID = Field(description="Pseudonymous patient id, assigned by intake.")


class IntakeEvent(DomainEvent):
    """Base of the intake context's events."""

    context = "intake"


@registry.register
class PatientReferred(IntakeEvent, Referral):
    """A referral was received and the patient's record opened. Carries personal data (PHI)."""

    patient_id: UUID = Field(description="Pseudonymous patient id; the Kafka message key.")
