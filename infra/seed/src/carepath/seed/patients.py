"""Who a synthetic patient is: the referral, the intake form, the baseline questionnaires, and
what screening should find. Pure: everything comes from the caller's `Random`."""

import hashlib
from datetime import date, datetime, timedelta
from random import Random

from carepath.contracts.common import Instrument
from carepath.contracts.intake import (
    AntidepressantTrial,
    GiveConsent,
    HepaticImpairment,
    MedicalHistory,
    Medication,
    RecordAssessment,
    Referral,
    ReferralReason,
    SubmitIntakeForm,
    SubstanceUse,
    TrialResponse,
)
from carepath.seed import questionnaires
from carepath.seed.screening import Finding
from carepath.seed.wording import FAMILY_NAMES, GIVEN_NAMES, REFERRERS

CONSENT_VERSION = "kap-consent-3.2"
CONSENT_SHA256 = hashlib.sha256(b"CarePath KAP informed consent, version 3.2").hexdigest()


REASON_WEIGHTS = {
    ReferralReason.DEPRESSION: 60,
    ReferralReason.PTSD: 18,
    ReferralReason.ANXIETY: 12,
    ReferralReason.CHRONIC_PAIN: 10,
}
DIAGNOSES = {
    ReferralReason.DEPRESSION: ["major depressive disorder, recurrent, severe"],
    ReferralReason.PTSD: ["post-traumatic stress disorder", "major depressive disorder, moderate"],
    ReferralReason.ANXIETY: ["generalised anxiety disorder", "major depressive disorder, mild"],
    ReferralReason.CHRONIC_PAIN: ["fibromyalgia", "major depressive disorder, moderate"],
}
# (drug, lowest and highest adequate daily dose in mg)
ANTIDEPRESSANTS = (
    ("sertraline", 100, 200),
    ("escitalopram", 10, 20),
    ("fluoxetine", 20, 60),
    ("venlafaxine", 150, 225),
    ("duloxetine", 60, 120),
    ("mirtazapine", 30, 45),
    ("vortioxetine", 10, 20),
    ("bupropion", 300, 450),
)
BASELINE_PHQ9 = {
    ReferralReason.DEPRESSION: (16, 24),
    ReferralReason.PTSD: (12, 21),
    ReferralReason.ANXIETY: (10, 18),
    ReferralReason.CHRONIC_PAIN: (10, 19),
}


def referral_reason(finding: Finding, rng: Random) -> ReferralReason:
    """Mostly depression, then PTSD, anxiety, some chronic pain; the trial-based findings and the
    age-17 case are depression referrals."""
    if finding in (Finding.ONE_FAILED_TRIAL, Finding.AGE_17, Finding.INTRACEREBRAL_HAEMORRHAGE):
        return ReferralReason.DEPRESSION
    reasons = list(REASON_WEIGHTS)
    return rng.choices(reasons, weights=[REASON_WEIGHTS[r] for r in reasons])[0]


def baseline_phq9_total(reason: ReferralReason, rng: Random) -> int:
    """The baseline PHQ-9 total: severe for depression referrals, moderate for the others."""
    low, high = BASELINE_PHQ9[reason]
    return rng.randint(low, high)


def referral(
    finding: Finding, reason: ReferralReason, today: date, rng: Random, *, referred_at: datetime
) -> Referral:
    """The referral letter, received at `referred_at`: synthetic name, birth date (age 17 for
    that finding), referrer."""
    given, family = rng.choice(GIVEN_NAMES), rng.choice(FAMILY_NAMES)
    years = 17 if finding is Finding.AGE_17 else rng.randint(22, 68)
    # Whole days, so the plan only shifts when `today` does; 30-300 extra days keep the age exact.
    born = today - timedelta(days=years * 365 + rng.randint(30, 300))
    referrer = REFERRERS[3] if reason is ReferralReason.CHRONIC_PAIN else rng.choice(REFERRERS[:3])
    if reason is ReferralReason.PTSD:
        referrer = REFERRERS[4]
    return Referral(
        given_name=given,
        family_name=family,
        date_of_birth=born,
        referral_reason=reason,
        referrer=referrer,
        contact=f"{given}.{family}@example.org".lower(),
        referred_at=referred_at,
    )


def intake_form(
    finding: Finding,
    reason: ReferralReason,
    rng: Random,
    *,
    resting_bp: tuple[int, int],
    submitted_at: datetime,
) -> SubmitIntakeForm:
    """The intake form, filled in at `submitted_at`: diagnoses, medications, the
    contraindication checklist, substance use, antidepressant trials and the resting blood
    pressure, shaped by the finding."""
    trials = _trials(finding, reason, rng)
    diagnoses = list(DIAGNOSES[reason])
    if finding is Finding.PSYCHOSIS_HISTORY:
        diagnoses.append("history of brief psychotic disorder")
    if finding is Finding.INTRACEREBRAL_HAEMORRHAGE:
        diagnoses.append("intracerebral haemorrhage, 2019")
    current = trials[-1] if trials else None
    medications = (
        [Medication(name=current.drug, daily_dose_mg=current.daily_dose_mg)] if current else []
    )
    if reason is ReferralReason.CHRONIC_PAIN:
        medications.append(Medication(name="pregabalin", daily_dose_mg=300))
    if finding is Finding.SCREENING_BP_150_95:
        medications.append(Medication(name="amlodipine", daily_dose_mg=5))
    return SubmitIntakeForm(
        diagnoses=diagnoses,
        medications=medications,
        medical_history=_medical_history(finding, rng),
        substance_use=_substance_use(rng),
        antidepressant_trials=trials,
        resting_systolic_mmhg=resting_bp[0],
        resting_diastolic_mmhg=resting_bp[1],
        submitted_at=submitted_at,
    )


def resting_bp(finding: Finding, rng: Random) -> tuple[int, int]:
    """Resting BP at screening: 150/95 for that finding, otherwise normal to high-normal."""
    if finding is Finding.SCREENING_BP_150_95:
        return 150, 95
    return rng.randint(108, 136), rng.randint(66, 86)


def assessments(
    finding: Finding, reason: ReferralReason, baseline: int, rng: Random, *, at: datetime
) -> tuple[RecordAssessment, ...]:
    """The baseline questionnaires intake needs: PHQ-9 and the C-SSRS screener, plus PCL-5 for a
    PTSD referral, GAD-7 for anxiety and the pain NRS for chronic pain, all administered `at` the
    intake appointment."""
    high_risk = finding is Finding.HIGH_SUICIDE_RISK
    item9 = (
        2 if high_risk else (1 if reason is ReferralReason.DEPRESSION and rng.random() < 0.2 else 0)
    )
    cssrs = questionnaires.NO_RISK_CSSRS
    if high_risk:
        cssrs = questionnaires.HIGH_RISK_CSSRS
    elif item9:
        cssrs = questionnaires.PASSIVE_WISH_CSSRS
    answered = [
        RecordAssessment(
            instrument=Instrument.PHQ9,
            answers=list(questionnaires.phq9(baseline, rng, item9=item9)),
            administered_at=at,
        )
    ]
    if reason is ReferralReason.PTSD:
        pcl5 = questionnaires.pcl5_meeting_cluster_rule(rng.randint(38, 66), rng)
        answered.append(
            RecordAssessment(instrument=Instrument.PCL5, answers=list(pcl5), administered_at=at)
        )
    if reason is ReferralReason.ANXIETY:
        gad7 = questionnaires.gad7(rng.randint(11, 19), rng)
        answered.append(
            RecordAssessment(instrument=Instrument.GAD7, answers=list(gad7), administered_at=at)
        )
    if reason is ReferralReason.CHRONIC_PAIN:
        # Derived from the PHQ-9 rather than drawn, so the rest of the cohort stays as it was.
        pain = [min(10, 4 + baseline // 5)]
        answered.append(
            RecordAssessment(instrument=Instrument.PAIN_NRS, answers=pain, administered_at=at)
        )
    answered.append(
        RecordAssessment(instrument=Instrument.CSSRS, answers=list(cssrs), administered_at=at)
    )
    return tuple(answered)


def consent(at: datetime) -> GiveConsent:
    """Informed consent to KAP, given `at` the intake appointment, after the questionnaires."""
    return GiveConsent(
        consent_version=CONSENT_VERSION, consent_text_sha256=CONSENT_SHA256, given_at=at
    )


def _trials(finding: Finding, reason: ReferralReason, rng: Random) -> list[AntidepressantTrial]:
    if finding is Finding.ONE_FAILED_TRIAL:
        count = 1
    elif reason is ReferralReason.DEPRESSION:
        count = rng.randint(2, 4)  # treatment-resistant: at least 2 adequate trials failed
    else:
        count = rng.randint(0, 2)
    drugs = rng.sample(ANTIDEPRESSANTS, k=count)
    return [
        AntidepressantTrial(
            drug=drug,
            daily_dose_mg=rng.choice((low, high)),
            weeks=rng.randint(6, 16),
            adequate_dose=True,
            response=rng.choice((TrialResponse.NONE, TrialResponse.PARTIAL)),
        )
        for drug, low, high in drugs
    ]


def _medical_history(finding: Finding, rng: Random) -> MedicalHistory:
    return MedicalHistory(
        aneurysmal_vascular_disease=False,
        arteriovenous_malformation=False,
        intracerebral_haemorrhage=finding is Finding.INTRACEREBRAL_HAEMORRHAGE,
        ketamine_hypersensitivity=finding is Finding.KETAMINE_HYPERSENSITIVITY,
        psychosis_history=finding is Finding.PSYCHOSIS_HISTORY,
        uncontrolled_hypertension=False,
        cardiovascular_disease=False,
        cerebrovascular_disease=False,
        hypertensive_encephalopathy=False,
        raised_intracranial_pressure=False,
        raised_intraocular_pressure=False,
        hepatic_impairment=HepaticImpairment.MILD
        if rng.random() < 0.05
        else HepaticImpairment.NONE,
        pregnant_or_breastfeeding=False,
        interstitial_cystitis=False,
        dementia_or_brain_injury=False,
    )


def _substance_use(rng: Random) -> SubstanceUse:
    if rng.random() < 0.1:  # a disorder in sustained remission: no flag at >= 12 months
        return SubstanceUse(
            substances=["alcohol"],
            substance_use_disorder=True,
            months_abstinent=rng.randint(14, 60),
        )
    substances = [s for s in ("alcohol", "cannabis") if rng.random() < 0.5]
    return SubstanceUse(substances=substances, substance_use_disorder=False)
