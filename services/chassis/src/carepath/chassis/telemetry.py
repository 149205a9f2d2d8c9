"""OpenTelemetry: one trace from the HTTP request, through the event store and Kafka, to consumers.

The request's trace context is stored with each event it caused (`traceparent`), sent with the
event, and continued by every consumer, so a trace shows one patient action across services.
Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces variant) is
set; otherwise they are created, propagated and dropped.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncEngine

from carepath.contracts import CloudEvent

_propagator = TraceContextTextMapPropagator()


def setup_tracing(service_name: str) -> TracerProvider:
    """Install the SDK tracer provider for this process (once) and return it."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"carepath-{service_name}"})
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, to store with the events it causes."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def continued_trace(traceparent: str | None) -> Iterator[None]:
    """Make `traceparent` the active context, so spans started inside continue its trace."""
    if not traceparent:
        yield
        return
    token = context.attach(_propagator.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def span_without_data(tracer: trace.Tracer, name: str, **options: Any) -> Iterator[trace.Span]:
    """`tracer.start_as_current_span`, except that an exception is recorded as its class only:
    its message may quote the data it failed on (a validation error quotes the input), and a
    span's exception event would carry it to the trace backend."""
    with tracer.start_as_current_span(
        name, record_exception=False, set_status_on_exception=False, **options
    ) as span:
        try:
            yield span
        except BaseException as error:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
            raise


def current_span_context() -> trace.SpanContext:
    """The active span's context (invalid when there is none), to link later work to."""
    return trace.get_current_span().get_span_context()


def trace_statements(engine: AsyncEngine) -> None:
    """A span per SQL statement `engine` runs, in the trace of the work that ran it (the SQL with
    its placeholders, never the values). One engine per process (a service's): instrumenting
    another one moves the instrumentation to it (tests build several services in turn)."""
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # The instrumentation declares SQLAlchemy < 2.1; the engine events it uses are unchanged in
    # 2.1 (tests/unit/test_request_traces.py would see no statement span otherwise).
    instrumentor.instrument(engine=engine.sync_engine, enable_commenter=False, skip_dep_check=True)


def span_context_of(event: CloudEvent) -> trace.SpanContext | None:
    """The span that caused an event (its `traceparent`), to link a batch's span to; None when
    it has none."""
    if not event.traceparent:
        return None
    linked = trace.get_current_span(_propagator.extract({"traceparent": event.traceparent}))
    context_ = linked.get_span_context()
    return context_ if context_.is_valid else None


def trace_id_of(traceparent: str) -> str:
    """The 32-hex trace id inside a `traceparent` header."""
    return traceparent.split("-")[1]
