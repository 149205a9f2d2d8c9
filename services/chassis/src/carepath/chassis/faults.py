"""What kind of failure an error is, and how to describe it without patient data.

The consumers and the relay treat two kinds of failure differently:
- *transient*: something the service depends on is away (the database, a broker). No record is at
  fault; pause, retry, and never dead-letter or park because of it.
- anything else is *deterministic* until shown otherwise: the same record fails the same way, so
  after a bounded number of tries it is set aside (a dead letter, a parked event) and the rest flow.
"""

import traceback
from dataclasses import dataclass
from pathlib import Path

from aiokafka.errors import KafkaTimeoutError, ProducerClosed
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from carepath.chassis.errors import CarePathError
from carepath.contracts.events import UnknownEventType

TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,  # connection refused or lost, database locked, disk full
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
    KafkaTimeoutError,  # no broker answered in time (aiokafka does not mark it retriable)
    ProducerClosed,  # the service is stopping
)


def is_transient(error: BaseException) -> bool:
    """True when `error` says a dependency is away rather than that a record is bad."""
    if isinstance(error, TRANSIENT):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    # Kafka clients mark the errors a retry can cure (aiokafka and kafka-python both).
    return bool(getattr(error, "retriable", False))


@dataclass(frozen=True)
class SafeDescription:
    """An error as it may appear in logs and dead-letter headers: never a value from a record."""

    error_class: str
    message: str

    def __str__(self) -> str:
        return f"{self.error_class}: {self.message}"


def describe(error: BaseException) -> SafeDescription:
    """Describe `error` without quoting the data it choked on.

    Our own errors (`CarePathError`) are written for users and name fields and rules, not
    patients; a schema error is given as its field locations and reasons, without the input; any
    other error (an OverflowError, a database's DataError, which quotes the statement's
    parameters) only by its class and the line of code that raised it.
    """
    name = type(error).__name__
    if isinstance(error, CarePathError | UnknownEventType):  # rules, fields, type names
        return SafeDescription(name, str(error)[:500])
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or '(record)'}: {problem['msg']}"
            for problem in error.errors(
                include_input=False, include_url=False, include_context=False
            )
        ]
        return SafeDescription(name, "; ".join(problems)[:500])
    return SafeDescription(name, f"raised at {_where(error)}")


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "(no traceback)"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"
