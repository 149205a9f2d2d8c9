"""What leaves a service as traces (OTLP) carries no error message: a database error's message
(PostgreSQL's may quote the row it refused) and libraries' recorded exceptions are reduced to
their types before export."""

from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from carepath.chassis.database import create_engine
from carepath.chassis.telemetry import WithoutMessages, setup_tracing, trace_statements

PATIENT = "Thistlewood 1980-05-17"


@pytest.fixture
def exported() -> InMemorySpanExporter:
    """What the OTLP exporter would be given."""
    provider = setup_tracing("intake")
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(WithoutMessages(exporter)))
    return exporter


async def test_a_refused_statement_is_exported_without_the_row_it_quoted(
    exported: InMemorySpanExporter, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'refusing.db'}")
    trace_statements(engine)
    tracer = trace.get_tracer("test")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE patient (name TEXT CHECK (name = ''))"))
        with tracer.start_as_current_span("request"):
            with pytest.raises(IntegrityError):
                async with engine.begin() as connection:
                    insert = text("INSERT INTO patient VALUES (:name)")
                    await connection.execute(insert, {"name": PATIENT})
    finally:
        await engine.dispose()

    [refused] = [
        s for s in exported.get_finished_spans() if s.status.status_code == trace.StatusCode.ERROR
    ]
    assert refused.kind == trace.SpanKind.CLIENT
    assert refused.status.description == "error"  # SQLite's message named the constraint
    assert all("CHECK" not in str(s.status.description) for s in exported.get_finished_spans())


def test_a_recorded_exception_is_exported_as_its_type_only(
    exported: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("a library")
    with tracer.start_as_current_span("handler") as span:
        span.record_exception(ValueError(f"dose refused for {PATIENT}"))
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"dose refused for {PATIENT}"))
    [handler] = exported.get_finished_spans()
    assert [dict(e.attributes or {}) for e in handler.events] == [{"exception.type": "ValueError"}]
    assert handler.status.description == "error"
    assert PATIENT not in str(handler.to_json())
