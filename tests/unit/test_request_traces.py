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
