"""The dashboard's read models: tables rebuilt from the topics, never written by hand.

Every row derives from events only (no clock reads), and each handler gives the same result
whatever order the topics are read in, so a rebuild from offset 0 equals the live models.
Time-dependent views (today's board, minutes left) are computed when they are read.

The tables carry the projection's version in their names (version 1's keep the names they were
released under): a changed projection builds new tables beside the old ones, and takes over when
it has caught up (`carepath.dashboard.versions`).
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field as Setting
from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from carepath.chassis.database import UTCDateTime
from carepath.chassis.schema_scope import MANAGED_BY_INFO, READ_MODEL_INFO

PROJECTION_VERSION = 1
"""The version of the dashboard's projection. Raise it whenever a handler or a read-model table
changes meaning: the new version projects every topic from offset 0 into tables of its own while
the old version keeps serving, then takes over. Raise it above every `CAREPATH_PROJECTION_VERSION`
an operator has used (`carepath-dashboard read-model-versions` lists them): a version's tables are
only ever run on by the code that built them (`versions.BuiltByOtherCode`)."""


class _VersionOverride(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREPATH_")

    projection_version: int | None = Setting(
        default=None,
        description="Run the projection as this version rather than the code's own: rebuilds "
        "the same projection side by side into fresh tables, then swaps (a rebuild without "
        "downtime; the tests' way to run two versions). Must be above the code's own "
        "`PROJECTION_VERSION`. Read when the models are imported.",
    )

    @model_validator(mode="after")
    def _above_the_code_s_version(self) -> "_VersionOverride":
        # Version numbers up to the code's own belong to the code: an override among them would
        # run this projection on tables another projection's code built, or built for it.
        number = self.projection_version
        if number is not None and number <= PROJECTION_VERSION:
            raise ValueError(
                f"CAREPATH_PROJECTION_VERSION={number} is not above this code's projection "
                f"version {PROJECTION_VERSION}: unset it (the code runs as version "
                f"{PROJECTION_VERSION}), or set it above {PROJECTION_VERSION} for a rebuild"
            )
        return self


RUNNING_VERSION = _VersionOverride().projection_version or PROJECTION_VERSION
"""The version this process projects and serves: `PROJECTION_VERSION`, unless overridden."""


def table_name(name: str, version: int = RUNNING_VERSION) -> str:
    """A read-model table's name in `version` (version 1's: the names it was released under)."""
    return name if version == 1 else f"{name}_v{version}"


def table_info(name: str, version: int = RUNNING_VERSION) -> dict[str, str]:
    """What the schema tools know of a read-model table (`Table.info`): which read model it is a
    version of, and, beyond version 1 (made by the Alembic baseline), that the dashboard makes it
    itself, so it is no business of the revisions (`carepath-migrate --compare-models`)."""
    info = {READ_MODEL_INFO: name}
    return info if version == 1 else {**info, MANAGED_BY_INFO: "projection"}


def _time(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class PatientView(SQLModel, table=True):
    """Where one patient is in the pathway: one flag per stage reached."""

    __tablename__ = table_name("dash_patient")
    __table_args__ = {"info": table_info("dash_patient")}

    patient_id: UUID = Field(primary_key=True)
    referral_reason: str | None = None
    referred_at: datetime | None = _time()
    referred: bool = False
    intake_complete: bool = False
    screening_outcome: str | None = None
    review_decision: str | None = None
    cleared: bool = False
    course_opened: bool = False
    doses_given: int = 0
    completed: bool = False
    discontinued: str | None = None
    baseline_phq9: int | None = None
    outcome_instrument: str | None = None  # the instrument of the indication, at completion
    final_total: int | None = None
    response: bool | None = None
    substantial_response: bool | None = None
    remission: bool | None = None


class DosingView(SQLModel, table=True):
    """One dosing session on the board."""

    __tablename__ = table_name("dash_dosing")
    __table_args__ = {"info": table_info("dash_dosing")}

    session_id: UUID = Field(primary_key=True)
    patient_id: UUID = Field(index=True)
    session_number: int
    scheduled_for: datetime = _time(nullable=False)
    status: str = "scheduled"
    dosed_at: datetime | None = _time()
    administration_ended_at: datetime | None = _time()  # the window runs from here (IV: infusion)
    discharged_at: datetime | None = _time()
    min_observation_minutes: int | None = None
    last_bp: str | None = None


class AlertView(SQLModel, table=True):
    """A safety alert, shown until acknowledged."""

    __tablename__ = table_name("dash_alert")
    __table_args__ = {"info": table_info("dash_alert")}

    alert_id: UUID = Field(primary_key=True)
    patient_id: UUID = Field(index=True)
    kind: str = ""
    detail: str = ""
    raised_at: datetime | None = _time()
    acknowledged_at: datetime | None = _time()
    acknowledged_by: str | None = None


class OutcomePoint(SQLModel, table=True):
    """An outcome total over time (intake baselines, outcome measures), per instrument."""

    __tablename__ = table_name("dash_outcome")
    __table_args__ = {"info": table_info("dash_outcome")}

    event_id: UUID = Field(primary_key=True)
    patient_id: UUID = Field(index=True)
    instrument: str
    total: int
    timepoint: str
    measured_at: datetime = _time(nullable=False)


class OutcomeCriteriaView(SQLModel, table=True):
    """How the clinic policy judged an instrument's latest result: the chart's reference line."""

    __tablename__ = table_name("dash_outcome_criteria")
    __table_args__ = {"info": table_info("dash_outcome_criteria")}

    instrument: str = Field(primary_key=True)
    remission_below: int | None = None
    response_reduction_percent: int | None = None
    response_reduction_points: int | None = None
    substantial_reduction_percent: int | None = None
    policy_version: str = ""
    judged_at: datetime = _time(nullable=False)


class TimelineEntry(SQLModel, table=True):
    """One line of a patient's timeline."""

    __tablename__ = table_name("dash_timeline")
    __table_args__ = {"info": table_info("dash_timeline")}

    event_id: UUID = Field(primary_key=True)
    patient_id: UUID = Field(index=True)
    at: datetime = _time(nullable=False)
    recorded_at: datetime = _time(nullable=False)
    sequence: int = 0  # in its stream: orders the events one command decided together
    context: str
    type: str
    summary: str


READ_MODELS: tuple[type[SQLModel], ...] = (
    PatientView,
    DosingView,
    AlertView,
    OutcomePoint,
    OutcomeCriteriaView,
    TimelineEntry,
)

READ_MODEL_NAMES = (
    "dash_patient",
    "dash_dosing",
    "dash_alert",
    "dash_outcome",
    "dash_outcome_criteria",
    "dash_timeline",
)
"""The read-model tables' names without their version (`table_name` adds it)."""
