"""Logs as JSON lines, one object per record, for a log pipeline to index: time, level, logger,
message, the service's name, and the trace and span ids of the work it belongs to (so a log line
leads to its trace).

No patient data: the code logs identifiers, event types, error classes and counts, never a
record's values; an exception is logged as its class and stack frames, without its message (a
validation error's message quotes the input).
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
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, stack = record.exc_info
            entry["error.type"] = kind.__name__
            entry["stack"] = "".join(traceback.format_tb(stack))
        return json.dumps(entry, ensure_ascii=False)


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
