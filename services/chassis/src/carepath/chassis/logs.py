"""Logs as JSON lines, one object per record, for a log pipeline to index: time, level, logger,
message, the service's name, and the trace and span ids of the work it belongs to (so a log line
leads to its trace).

No patient data: the code logs identifiers, event types, error classes and counts, never a
record's values; an exception is logged as its class and stack frames, without its message (a
validation error's message quotes the input), and so are the exceptions that caused it; a
request is logged by its path, without its query string.
"""

import json
import logging
import sys
import traceback
from datetime import UTC, datetime

from opentelemetry import trace

# Where uvicorn logs (its own handlers, set up before the app is made) and the root logger.
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service = f"carepath-{service_name}"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service.name": self.service,
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = trace.format_trace_id(span.trace_id)
            entry["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error.type"] = type(error).__name__
            chain = _chain(error)
            if len(chain) > 1:
                entry["error.causes"] = [type(cause).__name__ for cause, _ in chain[:-1]]
            entry["stack"] = "".join(_stack_without_messages(chain))
        return json.dumps(entry, ensure_ascii=False)


def stack_without_messages(error: BaseException) -> str:
    """Python's traceback of `error` and the exceptions that caused it, with each one's class in
    place of its message (a message may quote patient data)."""
    return "".join(_stack_without_messages(_chain(error)))


CAUSED = "\nThe above exception was the direct cause of the following exception:\n\n"
DURING = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _chain(error: BaseException) -> list[tuple[BaseException, str]]:
    """`error` and the exceptions behind it (`__cause__`, else `__context__` unless suppressed),
    the first cause first as Python prints them, each with what links it to the next."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, CAUSED
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, DURING
        else:
            current = None
    return list(reversed(chain))


def _stack_without_messages(chain: list[tuple[BaseException, str]]) -> list[str]:
    """Python's traceback of a chain of exceptions, each one's class in place of its message."""
    lines = []
    for error, link in chain:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(error.__traceback__))
        lines.append(f"{type(error).__module__}.{type(error).__qualname__}\n")
        lines.append(link)
    return lines


class WithoutQueryStrings(logging.Filter):
    """uvicorn's access log, each request's path without its query string: a query may hold
    whatever a caller typed (a name, a date of birth), and the path is what an operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut the query string off an access record's path (client, method, path, version,
        status); keep the record."""
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            if isinstance(path, str):
                record.args = (client, method, path.split("?", 1)[0], version, status)
        return True


def configure_logging(service_name: str, log_format: str = "json") -> None:
    """Send the service's and uvicorn's logs to stderr as JSON lines (`json`), or as plain text
    (`text`, for reading by eye on a workstation). Safe to call again."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    formatter = (
        JsonLines(service_name)
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(found, WithoutQueryStrings) for found in access.filters):
        access.addFilter(WithoutQueryStrings())
