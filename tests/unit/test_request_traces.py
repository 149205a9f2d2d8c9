"""One trace per request holds the request's span and the event store's SQL statements (the
statements with placeholders, never a patient's values)."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_input_bounds_over_http import auth, running, settings

from carepath.chassis.auth import Role
from carepath.intake.app import IntakeSettings
from carepath.intake.app import create_app as create_intake_app

FAMILY_NAME = "Thistlewood"
REFERRAL = {
    "given_name": "Ada",
    "family_name": FAMILY_NAME,
    "date_of_birth": "1980-05-17",
    "referral_reason": "depression",
    "referrer": "Dr Okafor",
}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans this process finishes while the test runs."""
    from carepath.chassis.telemetry import setup_tracing

    provider = setup_tracing("intake")
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()  # the exporter stops taking spans; the provider keeps the rest


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app: Any = create_intake_app(settings(IntakeSettings, "intake", tmp_path))
    async for client in running(app):
        yield client


async def test_a_referral_s_trace_holds_its_sql_without_the_patient_s_data(
    spans: InMemorySpanExporter, intake: httpx.AsyncClient
) -> None:
    response = await intake.post("/patients", json=REFERRAL, headers=auth(Role.CLINICIAN))
    assert response.status_code == 201

    finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind == trace.SpanKind.SERVER and "POST" in s.name]
    # The command was written in a group: the group's span links to the request's, and the
    # event store's statements are its children.
    [group] = [
        s
        for s in finished
        if s.name == "store events"
        and any(link.context.span_id == server.context.span_id for link in s.links)
    ]
    statements = [
        str((s.attributes or {}).get("db.statement", ""))
        for s in finished
        if s.parent is not None and s.parent.span_id == group.context.span_id
    ]
    assert any(sql.startswith("INSERT INTO event_store") for sql in statements), statements
    assert all(FAMILY_NAME not in str(s.attributes) for s in finished)


async def test_sql_outside_any_request_makes_no_trace_of_its_own(
    spans: InMemorySpanExporter, intake: httpx.AsyncClient
) -> None:
    assert (await intake.get("/readyz")).status_code == 200  # a probe: SQL, no request span
    response = await intake.post("/patients", json=REFERRAL, headers=auth(Role.CLINICIAN))
    assert response.status_code == 201

    finished = spans.get_finished_spans()
    roots = [s for s in finished if s.parent is None]
    assert any(s.kind == trace.SpanKind.SERVER and "POST" in s.name for s in roots)
    assert not [s.name for s in roots if s.kind == trace.SpanKind.CLIENT]  # no stray statement
    # ... while the request's own statements are kept, in its trace.
    request_traces = {s.context.trace_id for s in roots if s.kind != trace.SpanKind.CLIENT}
    assert any(
        s.kind == trace.SpanKind.CLIENT and s.context.trace_id in request_traces for s in finished
    )


async def test_a_failing_request_s_span_holds_the_exception_s_class_and_not_its_message(
    spans: InMemorySpanExporter, intake: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DatabaseRefused(Exception):
        """Like a database error whose message quotes the row it refused."""

    async def refuse(*_args: object, **_kwargs: object) -> None:
        raise DatabaseRefused(f"duplicate row ({FAMILY_NAME}, 1980-05-17)")

    transport = intake._transport
    assert isinstance(transport, httpx.ASGITransport)
    monkeypatch.setattr(transport.app.state.runtime.commits, "handle", refuse)  # type: ignore[attr-defined]

    response = await intake.post("/patients", json=REFERRAL, headers=auth(Role.CLINICIAN))
    assert response.status_code == 500
    assert FAMILY_NAME not in response.text

    [server] = [
        s
        for s in spans.get_finished_spans()
        if s.kind == trace.SpanKind.SERVER and "POST" in s.name
    ]
    [exception] = [e for e in server.events if e.name == "exception"]
    attributes = dict(exception.attributes or {})
    assert str(attributes["exception.type"]).endswith("DatabaseRefused")
    assert "refuse" in str(attributes["exception.stacktrace"])  # where it failed
    assert "exception.message" not in attributes
    assert server.status.status_code == trace.StatusCode.ERROR
    assert FAMILY_NAME not in f"{server.attributes} {server.events} {server.status.description}"


async def test_a_query_string_reaches_the_app_and_never_a_span(
    spans: InMemorySpanExporter, intake: httpx.AsyncClient
) -> None:
    """A caller may put patient data in a query string (here one the route ignores): it is in
    no span's attributes, in either semantic-conventions naming."""
    query = f"?family_name={FAMILY_NAME}&date_of_birth=1980-05-17"
    response = await intake.post(f"/patients{query}", json=REFERRAL, headers=auth(Role.CLINICIAN))
    assert response.status_code == 201
    [server] = [
        s
        for s in spans.get_finished_spans()
        if s.kind == trace.SpanKind.SERVER and "POST" in s.name
    ]
    attributes = dict(server.attributes or {})
    assert attributes.get("url.path", attributes.get("http.target")) == "/patients"
    assert not [key for key, value in attributes.items() if "1980-05-17" in str(value)]

    # ...and the app still reads its own query parameters.
    from fastapi import FastAPI, Request
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    from carepath.chassis.telemetry import hide_query_strings

    echo = FastAPI()

    @echo.get("/echo")
    async def echoed(request: Request) -> dict[str, str]:
        return dict(request.query_params)

    FastAPIInstrumentor.instrument_app(echo)
    hide_query_strings(echo)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=echo), base_url="http://test"
    ) as client:
        answer = await client.get("/echo", params={"patient": "p-1", "since": "2026-11-01"})
    assert answer.json() == {"patient": "p-1", "since": "2026-11-01"}
    echoed_spans = [s for s in spans.get_finished_spans() if s.name.startswith("GET /echo")]
    assert [s.kind for s in echoed_spans].count(trace.SpanKind.SERVER) == 1
    assert not [s for s in echoed_spans if "p-1" in str(s.attributes)]
