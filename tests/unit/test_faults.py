"""Which failures are transient, and how errors are described without patient data."""

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from carepath.chassis.errors import RuleViolation
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


def test_our_own_errors_keep_their_message() -> None:
    assert describe(RuleViolation("the course has ended")).message == "the course has ended"
