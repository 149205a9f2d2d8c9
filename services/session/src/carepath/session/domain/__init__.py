"""The session decider: a patient's course as pure `decide` and `evolve`. No I/O here.

Session's decider is the largest, so it is a package:
- `state.py`: the course's state, its commands and `evolve`;
- `course.py`: `course_decider`, and the course-level rules (opening, preparation, booking,
  suspension, resumption, the end of the course);
- `dosing.py`: one dosing session's rules (check-in, dose, vitals, observations, adverse events,
  discharge).
"""

from carepath.session.domain.course import course_decider
from carepath.session.domain.state import (
    CourseCommand,
    CourseState,
    DosingSession,
    DosingStatus,
    EndCourse,
    OpenCourse,
    StaffCommand,
    StaffRequest,
    SuspendForConsentWithdrawal,
    evolve,
    stream_id,
)

__all__ = [
    "CourseCommand",
    "CourseState",
    "DosingSession",
    "DosingStatus",
    "EndCourse",
    "OpenCourse",
    "StaffCommand",
    "StaffRequest",
    "SuspendForConsentWithdrawal",
    "course_decider",
    "evolve",
    "stream_id",
]
