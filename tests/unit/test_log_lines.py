"""The JSON log lines: an exception is logged as its classes and stacks, its causes' included,
and never with a message (a message may quote patient data)."""

import json
import logging
import sys

from carepath.chassis.logs import JsonLines, WithoutQueryStrings

FAMILY_NAME, DATE_OF_BIRTH, REFERRER = "Thistlewood", "1958-07-14", "Dr Wolstenholme"


def read_date_of_birth() -> None:
    raise ValueError(f"not a date: {DATE_OF_BIRTH}")


def parse_referral() -> None:
    try:
        read_date_of_birth()
    except ValueError as error:
        raise LookupError(f"no referral for {FAMILY_NAME}") from error


def store_referral() -> None:
    try:
        parse_referral()
    except LookupError:
        raise RuntimeError(f"could not store the referral from {REFERRER}")  # noqa: B904


def logged(error_raiser: object) -> dict[str, object]:
    assert callable(error_raiser)
    try:
        error_raiser()
    except Exception:
        record = logging.LogRecord(
            "carepath.test", logging.ERROR, __file__, 1, "a referral failed", (), sys.exc_info()
        )
    entry = json.loads(JsonLines("intake").format(record))
    assert isinstance(entry, dict)
    return entry


def test_an_exception_s_causes_are_logged_by_class_and_stack_without_their_messages() -> None:
    entry = logged(store_referral)

    assert entry["error.type"] == "RuntimeError"
    assert entry["error.causes"] == ["ValueError", "LookupError"]  # the first cause first
    stack = str(entry["stack"])
    for frame in ("read_date_of_birth", "parse_referral", "store_referral"):
        assert frame in stack
    assert stack.index("builtins.ValueError") < stack.index("builtins.LookupError")
    assert "direct cause of the following exception" in stack
    assert "During handling of the above exception" in stack
    assert not [phi for phi in (FAMILY_NAME, DATE_OF_BIRTH, REFERRER) if phi in json.dumps(entry)]


def test_an_exception_without_a_cause_is_its_class_and_stack() -> None:
    entry = logged(read_date_of_birth)

    assert entry["error.type"] == "ValueError"
    assert "error.causes" not in entry
    assert "read_date_of_birth" in str(entry["stack"])
    assert DATE_OF_BIRTH not in json.dumps(entry)


def test_a_suppressed_context_is_left_out() -> None:
    def refuse() -> None:
        try:
            read_date_of_birth()
        except ValueError:
            raise KeyError("patient") from None

    entry = logged(refuse)

    assert entry["error.type"] == "KeyError"
    assert "error.causes" not in entry
    assert "read_date_of_birth" not in str(entry["stack"])


def test_a_request_is_logged_by_its_path_without_its_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.7:5123", "POST", f"/patients?family_name={FAMILY_NAME}", "1.1", 422),
        None,
    )

    assert WithoutQueryStrings().filter(record)

    entry = json.loads(JsonLines("intake").format(record))
    assert entry["message"] == '10.0.0.7:5123 - "POST /patients HTTP/1.1" 422'
