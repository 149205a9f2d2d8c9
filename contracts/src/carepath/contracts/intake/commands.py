"""Commands of the intake context: the HTTP request bodies for the referral, the intake form,
an assessment's answers and consent. A command checks what its own fields can show (an answer out
of range, a C-SSRS follow-up question answered when it was not asked); the service scores."""

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from carepath.contracts.common import (
    SCORED_ITEMS,
    ChartedTime,
    ContractModel,
    Instrument,
    PatientId,
)
from carepath.contracts.intake.types import (
    CSSRS_QUESTIONS,
    ErasureGround,
    IntakeFormFields,
    ReferralDetails,
    RequestReference,
)


class Referral(ReferralDetails, ContractModel):
    """Request body of a referral (`POST /patients`)."""

    referred_at: ChartedTime | None = Field(
        default=None, description="When the referral was received; default now."
    )


class ReferPatient(Referral):
    """Command: open a patient's record from a referral."""

    patient_id: PatientId = Field(description="Pseudonymous patient id, assigned by intake.")


class SubmitIntakeForm(IntakeFormFields, ContractModel):
    """Command and request body (`PUT /patients/{id}/intake-form`): record the intake form."""

    submitted_at: ChartedTime | None = Field(
        default=None, description="When the form was filled in; default now."
    )


class RecordAssessment(ContractModel):
    """Command and request body (`POST /patients/{id}/assessments`): a questionnaire's answers.

    PHQ9: 9 answers 0-3; GAD7: 7 answers 0-3; PCL5: 20 answers 0-4. CSSRS: 7 answers, true/false
    for Q1-Q6 and Q6b ("within the past 3 months"); Q3-Q5 are null unless Q2 is true, Q6b is null
    unless Q6 is true. The service scores the answers; a client's total is never trusted.
    """

    instrument: Instrument = Field(description="Which questionnaire.")
    answers: list[int | bool | None] = Field(description="Item answers, in item order.")
    administered_at: ChartedTime | None = Field(
        default=None, description="When it was answered; default now."
    )

    @field_validator("answers")
    @classmethod
    def _answers_fit_the_instrument(
        cls, answers: list[int | bool | None], info: ValidationInfo
    ) -> list[int | bool | None]:
        instrument = info.data.get("instrument")
        if instrument is None:
            return answers
        if instrument is Instrument.CSSRS:
            _check_cssrs(answers)
            return answers
        count, high = SCORED_ITEMS[instrument]
        low = 0
        if len(answers) != count:
            raise ValueError(
                f"{instrument} needs {count} answers, each {low}-{high}; got {len(answers)}"
            )
        for position, answer in enumerate(answers, start=1):
            if isinstance(answer, bool) or not isinstance(answer, int) or not low <= answer <= high:
                allowed = f"{instrument} answers are whole numbers {low}-{high}"
                raise ValueError(f"item {position} is {answer!r}; {allowed}")
        return answers


def _check_cssrs(answers: list[int | bool | None]) -> None:
    if len(answers) != len(CSSRS_QUESTIONS):
        expected = f"{len(CSSRS_QUESTIONS)} answers ({', '.join(CSSRS_QUESTIONS)})"
        raise ValueError(f"CSSRS needs {expected}; got {len(answers)}")
    q1, q2, q3, q4, q5, q6, q6b = answers
    for name, answer in (("Q1", q1), ("Q2", q2), ("Q6", q6)):
        if not isinstance(answer, bool):
            raise ValueError(f"{name} must be true or false, not {answer!r}")
    for name, answer in (("Q3", q3), ("Q4", q4), ("Q5", q5)):
        if q2 and not isinstance(answer, bool):
            raise ValueError(f"{name} must be true or false when Q2 is yes, not {answer!r}")
        if not q2 and answer is not None:
            raise ValueError(
                f"{name} is asked only when Q2 is yes; Q2 is no, so {name} must be null"
            )
    if q6 and not isinstance(q6b, bool):
        raise ValueError("Q6b (within the past 3 months) must be true or false when Q6 is yes")
    if not q6 and q6b is not None:
        raise ValueError("Q6b is asked only when Q6 is yes; Q6 is no, so Q6b must be null")


class GiveConsent(ContractModel):
    """Command and request body (`POST /patients/{id}/consents`): informed consent to KAP."""

    consent_version: Annotated[str, Field(min_length=1, max_length=50)] = Field(
        description="Version of the consent text the patient agreed to."
    )
    consent_text_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 of that consent text."
    )
    given_at: ChartedTime | None = Field(
        default=None, description="When consent was given; default now."
    )


class WithdrawConsent(ContractModel):
    """Command and request body (`POST /patients/{id}/consents/withdrawal`)."""

    withdrawn_at: ChartedTime | None = Field(
        default=None, description="When it was withdrawn; default now."
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="Reason, if the patient gave one (PHI)."
    )


class ErasePatientData(ContractModel):
    """Command and request body (`POST /patients/{id}/erasure`): destroy the patient's data key,
    so that their identifying and free-text fields can no longer be read anywhere."""

    ground: ErasureGround = Field(description="Why the data is erased.")
    request_reference: RequestReference
