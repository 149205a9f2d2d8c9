"""What kind of failure an error is, and how to describe it without patient data.

The consumers and the relay treat two kinds of failure differently:
- *transient*: something the service depends on is away (the database, a broker) or another
  writer came first. No record is at fault; pause, retry, and never dead-letter or park for it.
- anything else is *deterministic* until shown otherwise: the same record fails the same way, so
  after a bounded number of tries it is set aside (a dead letter) and the rest flow.
"""

import sqlite3
import traceback
from dataclasses import dataclass
from pathlib import Path

from aiokafka.errors import KafkaTimeoutError, ProducerClosed
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from carepath.chassis.errors import ConcurrencyError
from carepath.chassis.evidence import UnverifiedEvent
from carepath.contracts.events import UnknownEventType

TRANSIENT: tuple[type[BaseException], ...] = (
    DisconnectionError,
    PoolTimeoutError,
    ConnectionError,
    TimeoutError,
    KafkaTimeoutError,  # no broker answered in time (aiokafka does not mark it retriable)
    ProducerClosed,  # the service is stopping
    ConcurrencyError,  # another writer changed the stream meanwhile: decide again
)

# PostgreSQL SQLSTATEs of a server away, restarting, overloaded, or a lock or serialisation
# conflict (classes 08, 53, 57P01-03; 40001, 40P01, 55P03); not a statement that cannot work.
POSTGRES_TRANSIENT = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01", "55P03")
# SQLite's primary result codes for busy, locked, I/O, cannot open, full, protocol.
SQLITE_TRANSIENT = {5, 6, 10, 13, 14, 15}


def is_transient(error: BaseException) -> bool:
    """True when `error` says a dependency is away (or a writer came first) rather than that a
    record is bad."""
    if isinstance(error, TRANSIENT):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or _database_away(error.orig)
    # Kafka clients mark the errors a retry can cure (aiokafka and kafka-python both).
    return bool(getattr(error, "retriable", False))


def _database_away(error: BaseException | None) -> bool:
    if isinstance(error, OSError):  # the driver could not reach the server
        return True
    if isinstance(error, sqlite3.Error):
        return (getattr(error, "sqlite_errorcode", 0) & 0xFF) in SQLITE_TRANSIENT
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate is None:  # psycopg: no answer from the server at all
        return type(error).__name__ in ("OperationalError", "InterfaceError")
    return str(sqlstate).startswith(POSTGRES_TRANSIENT)


@dataclass(frozen=True)
class SafeDescription:
    """An error as it may appear in logs and dead-letter headers: never a value from a record."""

    error_class: str
    message: str

    def __str__(self) -> str:
        return f"{self.error_class}: {self.message}"


def describe(error: BaseException) -> SafeDescription:
    """Describe `error` without quoting the data it choked on.

    A schema error is given as its field locations and error types (not pydantic's messages,
    which may quote the value); an unknown event type by the type; a record of unproven
    provenance by what failed (its source, type, topic, key id); any other error, ours
    included (a rule's message may quote a dose or a date), by its class and the line of code
    that raised it, which names the rule.
    """
    name = type(error).__name__
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or '(record)'}: {problem['type']}"
            for problem in error.errors(
                include_input=False, include_url=False, include_context=False
            )
        ]
        return SafeDescription(name, "; ".join(problems)[:500])
    if isinstance(error, UnknownEventType | UnverifiedEvent):  # services, types, key ids only
        return SafeDescription(name, str(error)[:300])
    return SafeDescription(name, f"raised at {_where(error)}")


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "(no traceback)"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"
