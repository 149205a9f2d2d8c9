"""Scripted clinic staff for tests against running services: referral and intake over HTTP."""

import hashlib
import json
from typing import Any

import httpx

from carepath.chassis.auth import Role
from carepath.contracts import CloudEvent
from support import ROOT, end_offsets, read_records, read_to_end, token

FORM: dict[str, Any] = json.loads(
    (ROOT / "examples" / "intake-form.json").read_text()
)  # the README's
CONSENT = {
    "consent_version": "kap-consent-3.2",
    "consent_text_sha256": hashlib.sha256(b"consent text").hexdigest(),
}
NO_RISK_CSSRS = {"instrument": "CSSRS", "answers": [False, False, None, None, None, False, None]}


def referral(reason: str = "depression", **changes: Any) -> dict[str, Any]:
    return {
        "given_name": "Tomas",
        "family_name": "Reyes",
        "date_of_birth": "1975-09-30",
        "referral_reason": reason,
        "referrer": "Dr Amari, Eastside Clinic",
        **changes,
    }


def form(**history: bool) -> dict[str, Any]:
    """The example form with some medical-history items set."""
    return {**FORM, "medical_history": {**FORM["medical_history"], **history}}


class Coordinator:
    """An intake coordinator working through the intake API."""

    def __init__(self, intake_url: str) -> None:
        self.client = httpx.Client(
            base_url=intake_url, headers=token(Role.INTAKE_COORDINATOR, "coordinator-3")
        )

    def refer(self, **changes: Any) -> str:
        response = self.client.post("/patients", json=referral(**changes))
        assert response.status_code == 201, response.text
        return str(response.json()["patient_id"])

    def complete_intake(
        self, reason: str = "depression", intake_form: dict[str, Any] | None = None
    ) -> str:
        """Refer and complete intake (form, PHQ-9, C-SSRS, consent); returns the patient id."""
        patient_id = self.refer(reason=reason)
        steps = [
            ("PUT", "intake-form", intake_form or FORM),
            ("POST", "assessments", {"instrument": "PHQ9", "answers": [3, 3, 2, 2, 2, 1, 2, 1, 0]}),
            ("POST", "assessments", NO_RISK_CSSRS),
            ("POST", "consents", CONSENT),
        ]
        for method, path, body in steps:
            response = self.client.request(method, f"/patients/{patient_id}/{path}", json=body)
            assert response.status_code in (200, 201), response.text
        assert response.json()["status"] == "complete"
        return patient_id


def events_of(
    bootstrap: str, topic: str, patient_id: str, *, at_least: int = 1, types: tuple[str, ...] = ()
) -> list[CloudEvent]:
    """The patient's events on `topic` (from the start), once at least `at_least` of `types` are there."""
    key = patient_id.encode()
    start = {tp: 0 for tp in end_offsets(bootstrap, topic)}

    def mine(records: list) -> list[CloudEvent]:
        return [CloudEvent.from_json(r.value) for r in records if r.key == key]

    def enough(records: list) -> bool:
        return (
            sum(1 for e in mine(records) if not types or e.type.split(".")[2] in types) >= at_least
        )

    read_records(bootstrap, start, until=enough, timeout=60)
    return mine(read_to_end(bootstrap, start))
