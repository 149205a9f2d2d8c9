"""Intake's HTTP API: referral, intake form, assessments, consent, and reading the record."""

import base64
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from carepath.chassis.auth import Role
from carepath.chassis.http import RequestContext, context_for
from carepath.chassis.service import service_of
from carepath.contracts.access import DataCategory
from carepath.contracts.common import Instrument, SeverityBand, SuicideRisk
from carepath.contracts.intake import (
    AssessmentScored,
    ErasePatientData,
    ErasureGround,
    GiveConsent,
    IntakeFormFields,
    Pcl5Clusters,
    RecordAssessment,
    ReferPatient,
    Referral,
    ReferralDetails,
    ReferralReason,
    SubmitIntakeForm,
    SuicidalityFlagRaised,
    SuicideRiskScreened,
    WithdrawConsent,
)
from carepath.contracts.privacy import SEALED_FORMAT
from carepath.intake.clinic_policy import IntakePolicy
from carepath.intake.domain import IntakeState, IntakeStatus
from carepath.intake.service import Intake

router = APIRouter(tags=["intake"], responses={401: {}, 403: {}, 422: {}})

MAY_WRITE = (Role.INTAKE_COORDINATOR, Role.CLINICIAN)
MAY_ERASE = (Role.PRIVACY_OFFICER,)
MAY_HOLD_KEYS = (Role.SERVICE,)  # the services, and subscribers entitled to a service account
MAY_READ = (Role.INTAKE_COORDINATOR, Role.CLINICIAN, Role.AUDITOR)
RECORD_CATEGORIES = (
    DataCategory.DEMOGRAPHICS,
    DataCategory.INTAKE_FORM,
    DataCategory.ASSESSMENTS,
    DataCategory.CONSENT,
)


Service = Annotated[Intake, Depends(service_of(Intake))]
Writer = Annotated[RequestContext, Depends(context_for(*MAY_WRITE))]
Reader = Annotated[RequestContext, Depends(context_for(*MAY_READ))]
Eraser = Annotated[RequestContext, Depends(context_for(*MAY_ERASE))]
KeyHolder = Annotated[RequestContext, Depends(context_for(*MAY_HOLD_KEYS))]


class PatientCreated(BaseModel):
    patient_id: UUID


class IntakeProgress(BaseModel):
    """Where a patient's intake stands after a command."""

    patient_id: UUID
    status: IntakeStatus
    missing: list[str]

    @classmethod
    def of(cls, patient_id: UUID, state: IntakeState, policy: IntakePolicy) -> "IntakeProgress":
        return cls(patient_id=patient_id, status=state.status, missing=state.missing(policy))


class AssessmentResult(IntakeProgress):
    """A scored questionnaire: totals and flags computed by the service."""

    instrument: Instrument
    total: int | None = None
    band: SeverityBand | None = None
    pcl5_clusters: Pcl5Clusters | None = None
    provisional_ptsd: bool | None = None
    suicide_risk: SuicideRisk | None = None
    suicidality_flag: bool


class AssessmentSummary(BaseModel):
    instrument: Instrument
    total: int
    band: SeverityBand | None
    provisional_ptsd: bool | None
    meets_dsm5_cluster_rule: bool | None
    administered_at: AwareDatetime


class FlagSummary(BaseModel):
    source: str
    detail: str
    follow_up_due_by: AwareDatetime


class ConsentSummary(BaseModel):
    consent_version: str
    given_at: AwareDatetime


class ErasureSummary(BaseModel):
    erased_at: AwareDatetime
    ground: ErasureGround
    request_reference: str


class PatientRecord(IntakeProgress):
    """A patient's intake record as staff see it (PHI); once the patient's data was erased, the
    plain facts only (`referral` null, `erasure` set)."""

    version: int
    referral: ReferralDetails | None
    referral_reason: ReferralReason
    erasure: ErasureSummary | None = None
    intake_form: IntakeFormFields | None
    assessments: list[AssessmentSummary]
    suicide_risk: SuicideRisk | None
    suicidality_flags: list[FlagSummary]
    consent: ConsentSummary | None
    consent_withdrawn_at: AwareDatetime | None
    completed_at: AwareDatetime | None


@router.post("/patients", status_code=status.HTTP_201_CREATED)
async def refer_patient(referral: Referral, context: Writer, service: Service) -> PatientCreated:
    """Open a patient's record from a referral; returns the new pseudonymous patient id."""
    patient_id = uuid4()
    await service.handle(
        patient_id, ReferPatient(patient_id=patient_id, **referral.model_dump()), context
    )
    return PatientCreated(patient_id=patient_id)


@router.put("/patients/{patient_id}/intake-form", responses={404: {}, 409: {}})
async def submit_intake_form(
    patient_id: UUID, form: SubmitIntakeForm, context: Writer, service: Service
) -> IntakeProgress:
    """Record the intake form (replacing an earlier one until intake is complete)."""
    decision = await service.handle(patient_id, form, context)
    return IntakeProgress.of(patient_id, decision.state, service.policy)


@router.post(
    "/patients/{patient_id}/assessments",
    status_code=status.HTTP_201_CREATED,
    responses={404: {}, 409: {}},
)
async def record_assessment(
    patient_id: UUID, assessment: RecordAssessment, context: Writer, service: Service
) -> AssessmentResult:
    """Score a questionnaire from its item answers: PHQ9, GAD7, PCL5 or the CSSRS screener."""
    decision = await service.handle(patient_id, assessment, context)
    progress = IntakeProgress.of(patient_id, decision.state, service.policy)
    flagged = decision.first(SuicidalityFlagRaised) is not None  # the decider's rule, as decided
    if (screened := decision.first(SuicideRiskScreened)) is not None:
        return AssessmentResult(
            **progress.model_dump(),
            instrument=assessment.instrument,
            suicide_risk=screened.risk,
            suicidality_flag=flagged,
        )
    scored = decision.first(AssessmentScored)
    assert scored is not None
    return AssessmentResult(
        **progress.model_dump(),
        instrument=scored.instrument,
        total=scored.total,
        band=scored.band,
        pcl5_clusters=scored.pcl5_clusters,
        provisional_ptsd=scored.provisional_ptsd,
        suicidality_flag=flagged,
    )


@router.post(
    "/patients/{patient_id}/consents",
    status_code=status.HTTP_201_CREATED,
    responses={404: {}, 409: {}},
)
async def give_consent(
    patient_id: UUID, consent: GiveConsent, context: Writer, service: Service
) -> IntakeProgress:
    """Record informed consent to KAP under a versioned consent text."""
    decision = await service.handle(patient_id, consent, context)
    return IntakeProgress.of(patient_id, decision.state, service.policy)


@router.post("/patients/{patient_id}/consents/withdrawal", responses={404: {}, 409: {}})
async def withdraw_consent(
    patient_id: UUID, withdrawal: WithdrawConsent, context: Writer, service: Service
) -> IntakeProgress:
    """Record that the patient withdrew consent: no further dosing."""
    decision = await service.handle(patient_id, withdrawal, context)
    return IntakeProgress.of(patient_id, decision.state, service.policy)


@router.get("/patients/{patient_id}", responses={404: {}})
async def read_patient(
    patient_id: UUID, request: Request, context: Reader, service: Service
) -> PatientRecord:
    """A patient's intake record. Every read is recorded on `carepath.access.events`."""
    state, version = await service.record(patient_id)
    await service.runtime.record_read(request, context, patient_id, RECORD_CATEGORIES)
    return _record(patient_id, state, version, service.policy)


@router.post("/patients/{patient_id}/erasure", responses={404: {}, 410: {}})
async def erase_patient_data(
    patient_id: UUID, erasure: ErasePatientData, context: Eraser, service: Service
) -> ErasureSummary:
    """Erase the patient's identifying and free-text data everywhere, by destroying their data
    key (crypto-shredding), and record `ErasureRecorded`. The plain facts of the pathway (scores,
    doses, times) remain; the evidence of the log stays verifiable. Cannot be undone."""
    recorded = await service.erase(patient_id, erasure, context)
    return ErasureSummary.model_validate(recorded.model_dump())


class DataKey(BaseModel):
    """A patient's data key, for opening their sealed fields (contracts/README.md)."""

    patient_id: UUID
    algorithm: str = "AES-256-GCM"
    sealed_format: str = SEALED_FORMAT
    key: str = Field(description="The 256-bit key, base64.")


@router.get("/patients/{patient_id}/data-key", responses={404: {}, 410: {}})
async def patient_data_key(
    patient_id: UUID, request: Request, context: KeyHolder, service: Service
) -> DataKey:
    """The patient's data key (role `service`); 404 for no such patient, 410 once their data
    was erased. Every fetch is recorded on `carepath.access.events`."""
    key = await service.data_key(patient_id)
    await service.runtime.record_read(request, context, patient_id, [DataCategory.DATA_KEY])
    return DataKey(patient_id=patient_id, key=base64.b64encode(key).decode())


def _record(
    patient_id: UUID, state: IntakeState, version: int, policy: IntakePolicy
) -> PatientRecord:
    assert state.referral is not None
    return PatientRecord(
        **IntakeProgress.of(patient_id, state, policy).model_dump(),
        version=version,
        referral=None
        if state.erasure
        else ReferralDetails.model_validate(state.referral.model_dump(exclude={"patient_id"})),
        referral_reason=state.referral.referral_reason,
        erasure=ErasureSummary.model_validate(state.erasure.model_dump())
        if state.erasure
        else None,
        intake_form=(
            IntakeFormFields.model_validate(state.form.model_dump(exclude={"patient_id"}))
            if state.form
            else None
        ),
        assessments=[_assessment(scored) for _, scored in sorted(state.assessments.items())],
        suicide_risk=state.cssrs.risk if state.cssrs else None,
        suicidality_flags=[_flag(flag) for flag in state.flags],
        consent=ConsentSummary(
            consent_version=state.consent.consent_version, given_at=state.consent.given_at
        )
        if state.consent
        else None,
        consent_withdrawn_at=state.withdrawal.withdrawn_at if state.withdrawal else None,
        completed_at=state.completed.completed_at if state.completed else None,
    )


def _assessment(scored: AssessmentScored) -> AssessmentSummary:
    clusters = scored.pcl5_clusters
    return AssessmentSummary(
        instrument=scored.instrument,
        total=scored.total,
        band=scored.band,
        provisional_ptsd=scored.provisional_ptsd,
        meets_dsm5_cluster_rule=clusters.meets_dsm5_cluster_rule if clusters else None,
        administered_at=scored.administered_at,
    )


def _flag(flag: SuicidalityFlagRaised) -> FlagSummary:
    return FlagSummary(
        source=flag.source.value, detail=flag.detail, follow_up_due_by=flag.follow_up_due_by
    )
