"""The integration context (`carepath.integration.events`): integration sessions after each
dosing session, outcome measures against baseline, and the end of a course.

Split into `types`, `commands`, `events` and `versions` (see contracts/README.md),
all re-exported here: import from the package, not from its modules.
"""

from carepath.contracts.integration import commands, events, types, versions
from carepath.contracts.integration.commands import (
    CompleteCourse,
    DiscontinueCourse,
    RecordIntegrationSession,
    RecordOutcome,
)
from carepath.contracts.integration.events import (
    BoosterIndicated,
    CourseCompleted,
    CourseDiscontinued,
    IntegrationEvent,
    IntegrationSessionCompleted,
    IntegrationSessionDue,
    IntegrationSessionOverdue,
    OutcomeMeasured,
    OutcomeSuicidalityFlagRaised,
)
from carepath.contracts.integration.types import (
    OUTCOME_ITEMS,
    DiscontinuationReason,
    IntegrationPractice,
    ItemScore,
    OutcomeCriteria,
    OutcomeInstrument,
    OutcomeJudgement,
    OutcomeTimepoint,
    Phq9Total,
    PracticesAssigned,
    RemissionBelow,
    ResponseThresholdPercent,
    SessionNotes,
    Themes,
    Therapist,
    check_item_scores,
    judge,
)
from carepath.contracts.integration.versions import (
    CourseCompletedV1,
    CourseDiscontinuedV1,
    IntegrationSessionCompletedV1,
    OutcomeMeasuredV1,
)

__all__ = [
    "OUTCOME_ITEMS",
    "BoosterIndicated",
    "CompleteCourse",
    "CourseCompleted",
    "CourseCompletedV1",
    "CourseDiscontinued",
    "CourseDiscontinuedV1",
    "DiscontinuationReason",
    "DiscontinueCourse",
    "IntegrationEvent",
    "IntegrationPractice",
    "IntegrationSessionCompleted",
    "IntegrationSessionCompletedV1",
    "IntegrationSessionDue",
    "IntegrationSessionOverdue",
    "ItemScore",
    "OutcomeCriteria",
    "OutcomeInstrument",
    "OutcomeJudgement",
    "OutcomeMeasured",
    "OutcomeMeasuredV1",
    "OutcomeSuicidalityFlagRaised",
    "OutcomeTimepoint",
    "Phq9Total",
    "PracticesAssigned",
    "RecordIntegrationSession",
    "RecordOutcome",
    "RemissionBelow",
    "ResponseThresholdPercent",
    "SessionNotes",
    "Themes",
    "Therapist",
    "check_item_scores",
    "commands",
    "events",
    "judge",
    "types",
    "versions",
]
