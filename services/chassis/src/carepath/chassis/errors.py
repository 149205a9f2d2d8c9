"""Domain errors that services raise and the HTTP layer turns into clear 4xx answers."""


class CarePathError(Exception):
    """Base of errors a user can act on; the message says what was wrong and what is allowed."""


class ConcurrencyError(CarePathError):
    """Another writer appended to the stream first: reload and retry (HTTP 409)."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual_version}, "
            f"not the expected {expected_version}: it changed meanwhile, reload and retry"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class RuleViolation(CarePathError):
    """A command that does not fit the current state (HTTP 409), e.g. consent withdrawn twice."""


class NotFound(CarePathError):
    """No such record (HTTP 404)."""


class InvalidField(CarePathError):
    """A field's value is not allowed in this situation (HTTP 422 naming the field), e.g. a
    charted time in the future."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PatientErased(CarePathError):
    """The patient's data key was destroyed: their protected fields can no longer be read, and
    nothing more can be recorded about them (HTTP 410)."""
