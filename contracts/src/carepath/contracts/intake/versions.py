"""Superseded versions of the intake context's events, each with the upcaster to the next.

When an event needs a breaking change, its
model moves here as `<Event>V1` (with `event_name`) beside its upcaster, and the new model takes
its place in `events` with `version = 2`; `carepath.contracts.session.versions` is the worked
example.
"""

from carepath.contracts.events import sealed_successor
from carepath.contracts.intake.events import (
    ConsentWithdrawn,
    PatientReferred,
)

# Version 2 of these seals their identifying and free-text fields with the patient's data key;
# version 1 carried them in clear and is read as version 2 (the payload unchanged).
PatientReferredV1 = sealed_successor(PatientReferred, __name__)
ConsentWithdrawnV1 = sealed_successor(ConsentWithdrawn, __name__)
