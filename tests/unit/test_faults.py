"""Which failures are transient, and how errors are described without patient data."""

import sqlite3

import psycopg
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from carepath.chassis.errors import ConcurrencyError, RuleViolation
from carepath.chassis.faults import describe, is_transient


class Referral(BaseModel):
    given_name: str
    age: int


def raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:
        return caught


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT 1", {}, ConnectionRefusedError()),
        KafkaConnectionError(),
        KafkaTimeoutError(),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_a_dependency_away_is_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("date value out of range"),
        ValueError("badly formed hexadecimal UUID string"),
        KeyError("given_name"),
        DataError("INSERT ...", {"given_name": "A\x00da"}, Exception("NUL")),
        IntegrityError("INSERT ...", {}, Exception("duplicate")),
        MessageSizeTooLargeError(),
        RuleViolation("consent was withdrawn"),
    ],
)
def test_anything_else_is_the_records_fault(error: Exception) -> None:
    assert not is_transient(error)


def test_a_schema_error_is_described_by_field_and_reason_without_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        Referral.model_validate({"given_name": 7, "age": "Ada Lovelace"})
    described = describe(caught.value)
    assert described.error_class == "ValidationError"
    assert "given_name" in described.message and "age" in described.message
    assert "Ada" not in str(described)


def test_an_unexpected_error_is_described_by_its_class_and_where_it_was_raised() -> None:
    error = raised(DataError("INSERT INTO t VALUES (%s)", {"name": "Ada Lovelace"}, Exception()))
    described = describe(error)
    assert described.error_class == "DataError"
    assert "Ada" not in str(described)
    assert "test_faults.py" in described.message  # where: for the developer who fixes it


def test_a_rule_is_named_by_where_it_was_raised_not_by_its_message() -> None:
    # A rule's message may quote a dose, a weight or a date: it stays out of logs and headers.
    described = describe(raised(RuleViolation("dose 52.5 mg is above 0.75 mg/kg of 70 kg")))
    assert described.error_class == "RuleViolation"
    assert "52.5" not in str(described) and "raised" in described.message


@pytest.mark.parametrize(
    ("orig", "transient"),
    [
        (psycopg.errors.AdminShutdown("terminating connection"), True),  # 57P01
        (psycopg.errors.SerializationFailure("could not serialize"), True),  # 40001
        (psycopg.OperationalError("connection failed"), True),  # no SQLSTATE: no server
        (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), False),  # 54000
        (psycopg.errors.QueryCanceled("statement timeout"), False),  # 57014
        (sqlite3.OperationalError("no such column: x"), False),  # SQLITE_ERROR
    ],
)
def test_a_database_error_is_transient_only_when_the_server_is_away_or_busy(
    orig: Exception, transient: bool
) -> None:
    assert is_transient(OperationalError("SELECT ...", {}, orig)) is transient


def test_sqlite_busy_is_transient() -> None:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]
    assert is_transient(OperationalError("INSERT ...", {}, busy))


def test_another_writer_first_is_transient() -> None:
    assert is_transient(ConcurrencyError("intake-1", 1, 2))
