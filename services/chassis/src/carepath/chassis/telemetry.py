"""OpenTelemetry: one trace from the HTTP request, through the event store and Kafka, to consumers.

The request's trace context is stored with each event it caused (`traceparent`), sent with the
event, and continued by every consumer, so a trace shows one patient action across services.
Spans are exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces variant) is
set; otherwise they are created, propagated and dropped. SQL statements are traced inside the
work that ran them, never as traces of their own (`NoStrayClientSpans`).
"""

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry import context, trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,
)
from opentelemetry.trace import Status
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carepath.chassis.logs import stack_without_messages
from carepath.contracts import CloudEvent

_log = logging.getLogger(__name__)
_propagator = TraceContextTextMapPropagator()


def setup_tracing(service_name: str) -> TracerProvider:
    """Install the SDK tracer provider for this process (once) and return it."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"carepath-{service_name}"}),
        sampler=ParentBased(root=NoStrayClientSpans()),
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(WithoutMessages(OTLPSpanExporter())))
    trace.set_tracer_provider(provider)
    return provider


class WithoutMessages(SpanExporter):
    """Exports spans without the messages of the errors they record, which may quote patient
    data: a status description becomes the span's `error.type` (or "error"), and an
    `exception` event keeps its type only. Our own spans record no message; libraries' do (the
    SQLAlchemy instrumentation puts a database error's message in the status, and PostgreSQL's
    may quote the row it refused; FastStream records the exceptions of handlers)."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Pass the spans on, without messages."""
        return self.exporter.export([_without_messages(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the exporter."""
        return self.exporter.force_flush(timeout_millis)


def _without_messages(span: ReadableSpan) -> ReadableSpan:
    events = [
        Event(event.name, {"exception.type": (event.attributes or {}).get("exception.type", "")})
        if event.name == "exception"
        else event
        for event in span.events
    ]
    if span.status.description is None and events == list(span.events):
        return span
    kind = (span.attributes or {}).get("error.type", "error")
    status = Status(span.status.status_code, str(kind)) if span.status.description else span.status
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class NoStrayClientSpans(Sampler):
    """The root sampler: a client span that starts a trace is dropped; any other root span is
    left to `root` (by default the SDK's, from `OTEL_TRACES_SAMPLER`: every trace).

    CarePath's client spans are the SQL statements (`trace_statements`). In the trace of a
    request or a consumed event they are children and kept (with `ParentBased`); alone, they
    are the relay's polling and the health probes' queries, which would each make a trace of
    one statement, many times a second, and bury the traces worth reading."""

    def __init__(self, root: Sampler | None = None) -> None:
        self.root = root or _get_from_env_or_default()

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        """Drop a client span without a parent; ask `root` about any other span."""
        if kind == trace.SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self.root.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """The sampler's name, as the SDK describes samplers."""
        return f"NoStrayClientSpans{{{self.root.get_description()}}}"


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


def record_exception_class(span: trace.Span, error: BaseException) -> None:
    """Record `error` on `span` as OpenTelemetry's `exception` event, with its class and the
    stacks of it and its causes, but none of their messages (`Span.record_exception` copies the
    message, which may quote patient data)."""
    kind = type(error)
    span.add_event(
        "exception",
        {
            "exception.type": f"{kind.__module__}.{kind.__qualname__}",
            "exception.stacktrace": stack_without_messages(error),
        },
    )
    span.set_attribute("error.type", kind.__name__)
    span.set_status(trace.Status(trace.StatusCode.ERROR, kind.__name__))


_SET_ASIDE = "carepath.query_string"  # where a request's query string waits, in its scope


def hide_query_strings(app: FastAPI) -> None:
    """Keep requests' query strings out of their spans: the FastAPI instrumentation (outermost,
    once `instrument_app` ran) records them (`url.query`, `http.url`, `http.target`), and a
    query may carry patient data. The query string is set aside before the instrumentation
    sees the request, and put back inside it, before the app's own middlewares and routes."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: _QueryStringAside(build())  # type: ignore[method-assign]
    app.add_middleware(_QueryStringBack)


class _QueryStringAside:
    """Around the instrumentation: the request's query string, set aside in its scope. (A
    class with `app`, so that FastAPI, walking the stack, sees the instrumentation and leaves
    its own telemetry off.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            scope = {**scope, "query_string": b"", _SET_ASIDE: scope["query_string"]}
        await self.app(scope, receive, send)


class _QueryStringBack:
    """Inside the instrumentation: the request's query string, set aside, back in its place."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _SET_ASIDE in scope:
            scope = {**scope, "query_string": scope[_SET_ASIDE]}
        await self.app(scope, receive, send)


class FailedRequests:
    """ASGI middleware: a request that fails with an exception no handler took is answered 500,
    logged, and recorded on the request's span as its class and stack, without its message.

    Without it, the exception reaches the OpenTelemetry FastAPI middleware, which records it
    with its message (and its status description with it), and uvicorn, which logs it. Add it
    inside the instrumentation (`app.add_middleware` after `instrument_app`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; answer 500 for an exception that escapes it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as error:
            record_exception_class(trace.get_current_span(), error)
            _log.error("%s %s failed", scope.get("method"), scope.get("path"), exc_info=error)
            if started:  # too late to answer: the server closes the connection
                return
            await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)


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
