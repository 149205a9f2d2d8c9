"""A service's runtime: settings, database, event store, Kafka broker, relay, and its web app.

Each service builds one `ServiceRuntime` in its `app.py`, registers its routes and subscribers,
and hands `create_app()` to uvicorn. The lifespan creates tables, connects to Kafka in the
background (the service accepts commands while Kafka is away; the outbox keeps the events), runs
the relay, and closes everything on shutdown.
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from carepath.chassis import health, metrics, schema
from carepath.chassis.access import record_access, record_refusal, route_template
from carepath.chassis.auth import dev_issuer
from carepath.chassis.clock import Clock, SystemClock
from carepath.chassis.commands import Decision, execute, load_state
from carepath.chassis.consumer import Batched, EventConsumer, RetryPolicy
from carepath.chassis.database import create_engine
from carepath.chassis.decider import C, Decider, S
from carepath.chassis.errors import CarePathError, ConcurrencyError
from carepath.chassis.evidence import load_signer
from carepath.chassis.group_commit import GroupCommit
from carepath.chassis.http import BodySizeLimit, RequestContext, add_error_handlers
from carepath.chassis.kafka import make_broker, make_producer
from carepath.chassis.logs import configure_logging
from carepath.chassis.metrics import setup_metrics
from carepath.chassis.patient_keys import PatientKeys, load_kek
from carepath.chassis.relay import OutboxRelay
from carepath.chassis.remote_keys import RemoteKeyring
from carepath.chassis.settings import ServiceSettings
from carepath.chassis.store import EventMetadata, EventStore
from carepath.chassis.telemetry import (
    FailedRequests,
    current_traceparent,
    hide_query_strings,
    setup_tracing,
    trace_statements,
)
from carepath.contracts import CloudEvent, DomainEvent, actor_attribute, clinical_time, registry
from carepath.contracts.access import AccessAction, DataCategory
from carepath.contracts.topics import SUBSCRIPTIONS

log = logging.getLogger(__name__)

COMMAND_ATTEMPTS = 3

Effect = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
"""What a consumer does with one event, in the inbox's transaction."""
Policy = Callable[[DomainEvent, UUID], C | None]
"""Event in, command out: the command an upstream event (and its id) calls for, or None."""


def command_name(command: object) -> str:
    """What staff asked for, in the metrics: the request a decider's command wraps (its
    `request`: `ReferPatient`, `RecordVitals`), else the command's own class."""
    return type(getattr(command, "request", command)).__name__


@dataclass(frozen=True)
class ShutdownBudget:
    """How a service's time to stop (`CAREPATH_SHUTDOWN_SECONDS`) is shared by the steps of its
    shutdown, in the order they run; whatever a step leaves unused is not carried over, and
    the last share (5 %) is the margin for the rest (the key service's client, the database
    pool). The pod's grace period in deploy/ holds the whole budget, its preStop wait and more."""

    total_s: float

    @property
    def requests_s(self) -> int:
        """uvicorn's wait for the requests in flight (whole seconds, as uvicorn takes it)."""
        return max(1, int(self.total_s * 0.4))

    @property
    def relay_drain_s(self) -> float:
        """The relay's last batch acknowledged and marked, and what is left published."""
        return self.total_s * 0.3

    @property
    def relay_close_s(self) -> float:
        """The relay and the background jobs cancelled, and the relay's producer stopped (what
        it holds is sent first)."""
        return self.total_s * 0.1

    @property
    def consumers_s(self) -> float:
        """The broker stopped: its consumers leave their groups, committing what they
        applied."""
        return self.total_s * 0.15

    def steps(self) -> list[float]:
        """The steps' timeouts, in the order they run (the rest's margin not included)."""
        return [self.requests_s, self.relay_drain_s, self.relay_close_s, self.consumers_s]


class UnsafeConfiguration(RuntimeError):
    """Settings that must not serve a clinic (a placeholder key, no database...)."""


class ServiceRuntime:
    """Everything a running service owns, built once from its settings."""

    figure_deadline_s = 2.0  # the longest `/metrics` waits for each figure it gathers

    def __init__(self, settings: ServiceSettings) -> None:
        if problems := settings.unsafe():
            raise UnsafeConfiguration(
                f"{settings.service_name} refuses to start: {'; '.join(problems)}. Set them, "
                "or CAREPATH_DEV_MODE=true for a local run (never in a clinic)."
            )
        self.settings = settings
        self.shutdown = ShutdownBudget(settings.shutdown_seconds)
        configure_logging(settings.service_name, settings.log_format)
        if not settings.oidc_jwks_url:  # dev mode: the dev issuer's keys exist from the start
            dev_issuer(settings)
        setup_tracing(settings.service_name)
        setup_metrics(settings.service_name)
        self.engine = create_engine(settings.resolved_database_url())
        if settings.trace_sql:
            trace_statements(self.engine)
        signer = load_signer(settings.service_name, settings.keys_dir, settings.signing_key_file)
        self.keys: PatientKeys | RemoteKeyring = (
            PatientKeys(self.engine, load_kek(settings), settings.key_cache_seconds)
            if settings.owns_key_store
            else RemoteKeyring(settings)
        )
        self.store = EventStore(self.engine, signer, self.keys, settings.envelope_version)
        self.commits = GroupCommit(self.store)  # staff commands are written in groups
        self.broker = make_broker(settings)
        self.relay = OutboxRelay(
            self.store,
            lambda: make_producer(settings),
            batch_size=settings.relay_batch_size,
            poll_seconds=settings.relay_poll_seconds,
            max_backoff_seconds=settings.relay_max_backoff_seconds,
        )
        self.broker_connected = asyncio.Event()
        self.clock: Clock = SystemClock()
        self.consumers: list[EventConsumer] = []
        self.readiness_checks: dict[str, Callable[[], str | None]] = {}
        """More of what `/readyz` asks, by name: why the service is not ready, or None."""
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def run_in_background(self, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `job` as a task for the service's lifetime (started and cancelled with it)."""
        self._background.append(job)

    async def record_read(
        self,
        request: Request,
        context: RequestContext,
        patient_id: UUID,
        categories: Sequence[DataCategory],
        action: AccessAction = AccessAction.READ,
    ) -> None:
        """Record that `context`'s caller read (or exported) a patient's data, before it is
        returned."""
        await record_access(
            self.store,
            context,
            service=self.settings.service_name,
            patient_id=patient_id,
            resource=route_template(request),
            categories=categories,
            action=action,
        )
        self.relay.wake()

    def subscribe(
        self,
        effect: Effect | Batched,
        *,
        on_applied: Callable[[], None] | None = None,
        generation: str | None = None,
    ) -> None:
        """Consume this service's subscriptions (the topic registry's `SUBSCRIPTIONS`) into
        `effect`; by default, what the effect decided is published at once (the relay wakes).
        `generation`: a new version of read models, in a consumer group of its own (see
        `EventConsumer`)."""
        name = self.settings.service_name
        consumer = EventConsumer(
            self.engine,
            self.broker,
            name,
            SUBSCRIPTIONS[name],
            effect,
            keys_dir=self.settings.keys_dir,
            retry=RetryPolicy(
                attempts=self.settings.consumer_attempts,
                backoff_s=self.settings.consumer_backoff_seconds,
                max_pause_s=self.settings.consumer_max_pause_seconds,
            ),
            on_applied=on_applied or self.relay.wake,
            generation=generation,
        )
        self.consumers.append(consumer)

    async def react(
        self,
        session: AsyncSession,
        cause: CloudEvent,
        decider: Decider[S, C],
        policy: Policy[C],
        stream_id: Callable[[UUID], str],
        event: DomainEvent | None = None,
    ) -> Decision[S] | None:
        """The one way a service reacts to an upstream event: `policy` turns it into a command
        (None: ignored), which runs on the patient's stream in the consumer's transaction. An
        event that does not parse raises, and goes to the dead-letter topic. A caller that has
        parsed `cause` already passes the `event`."""
        parsed = event or registry.parse(cause.type, cause.data)
        command = policy(parsed, cause.id)
        if command is None:
            return None
        return await execute(
            self.store,
            decider,
            stream_id(UUID(cause.subject)),
            command,
            subject=cause.subject,
            metadata=self.reaction_metadata(cause),
            session=session,
        )

    async def load(self, decider: Decider[S, C], stream_id: str) -> tuple[S, int]:
        """A stream's current state and version (0: no events yet)."""
        return await load_state(self.store, decider, stream_id)

    def service_metadata(self, correlation_id: str) -> EventMetadata:
        """Metadata of events the service decides on its own initiative (a scheduled sweep)."""
        return EventMetadata(
            source=self.source,
            actor=actor_attribute("service", self.settings.service_name),
            correlation_id=correlation_id,
            traceparent=current_traceparent(),
        )

    def reaction_metadata(self, cause: CloudEvent) -> EventMetadata:
        """Metadata of events this service decides in reaction to `cause` (a policy): the
        service is the actor, the cause's correlation continues, the consumer span's trace;
        clinically, a reaction happens when its cause happened."""
        return EventMetadata(
            source=self.source,
            actor=actor_attribute("service", self.settings.service_name),
            correlation_id=cause.correlationid,
            causation_id=str(cause.id),
            traceparent=current_traceparent(),
            occurred_at=clinical_time(cause),
        )

    @property
    def source(self) -> str:
        """The CloudEvents `source` of this service's events."""
        return f"/carepath/{self.settings.service_name}"

    async def _connect_then_relay(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.start()
                break
            except Exception as error:
                log.warning(
                    "Kafka at %s not reachable (%s); retrying in %.1fs",
                    self.settings.kafka_bootstrap_servers,
                    type(error).__name__,
                    delay,
                )
                with suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
        self.broker_connected.set()
        await self.relay.run()

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self._schema_at_head()
        if released := await self.relay.outbox.release_parked():
            log.warning("the outbox relay tries %d parked event(s) again", released)
        relay = asyncio.create_task(self._connect_then_relay(), name="relay")
        self._tasks.append(relay)
        self._tasks.extend(asyncio.create_task(job()) for job in self._background)
        try:
            yield
        finally:
            await self._stop(relay)

    async def _stop(self, relay: "asyncio.Task[None]") -> None:
        """Stop every part within the shutdown budget (uvicorn has used its share for the
        requests in flight before the lifespan ends)."""
        budget = self.shutdown
        await self._finish_relay(relay, budget.relay_drain_s)
        for task in self._tasks:
            task.cancel()
        with suppress(Exception):
            await asyncio.wait_for(self._close_relay(), budget.relay_close_s)
        with suppress(Exception):
            await asyncio.wait_for(self.broker.stop(), budget.consumers_s)
        if isinstance(self.keys, RemoteKeyring):
            await self.keys.close()
        await self.engine.dispose()

    async def _close_relay(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)  # the relay's task included
        await self.relay.close()

    async def _schema_at_head(self) -> None:
        """Migrate the database first if told to (local runs, tests); else refuse to start on
        one that is behind: `carepath-migrate` (a Job before the rollout) migrates it."""
        name = self.settings.service_name
        if self.settings.migrate_on_start:
            before = await schema.migrate(self.engine, name)
            if not before.up_to_date:
                log.info("migrated the %s database to revision %s", name, before.head)
            return
        await schema.require_current(self.engine, name)

    async def _finish_relay(self, relay: "asyncio.Task[None]", timeout_s: float) -> None:
        """At shutdown, let the batch in flight be acknowledged and marked, and publish what is
        left, rather than cancel the relay between a publish and its mark."""
        self.relay.stop()
        if not (self.broker_connected.is_set() and self.relay.publishing):
            return  # still connecting, or standing by for the lease: nothing in flight
        with suppress(Exception):
            await asyncio.wait_for(asyncio.shield(relay), timeout_s)

    async def handle(
        self,
        decider: Decider[S, C],
        stream_id: str,
        command: C,
        *,
        subject: str,
        metadata: EventMetadata,
        also: Callable[[AsyncSession, S], Awaitable[None]] | None = None,
    ) -> Decision[S]:
        """Run a staff command through `decider`, store its events, wake the relay; returns the
        stream's state after the command and the events it decided.

        `also` runs in the same transaction (e.g. keeping a lookup table). When another writer
        changed the stream meanwhile, the command is decided again on the new state: it then
        succeeds, or fails with the rule it now breaks (a real conflict), never a lost write.
        """
        started, outcome = time.perf_counter(), "failed"
        try:
            for attempt in range(1, COMMAND_ATTEMPTS + 1):
                try:
                    decision = await self.commits.handle(
                        decider, stream_id, command, subject=subject, metadata=metadata, also=also
                    )
                    break
                except ConcurrencyError:
                    if attempt == COMMAND_ATTEMPTS:
                        outcome = "conflict"
                        raise
            outcome = "accepted"
        except CarePathError:
            outcome = "conflict" if outcome == "conflict" else "refused"
            raise
        except asyncio.CancelledError:  # the caller hung up, or the service is stopping
            outcome = "cancelled"
            raise
        finally:
            attributes = {"carepath.command": command_name(command), "outcome": outcome}
            metrics.commands.add(1, attributes)
            metrics.command_duration.record(time.perf_counter() - started, attributes)
        self.relay.wake()
        for event_type, appended in Counter(e.event_type for e in decision.recorded).items():
            metrics.events_appended.add(appended, {"carepath.event_type": event_type})
        return decision

    async def gather_figures(self) -> None:
        """Bring the gauges of `/metrics` up to date: the outbox, Kafka's state and the consumers'
        lag. The outbox's and Kafka's figures keep their last value when they do not come in
        time (the database or Kafka may be the very thing that is away); a consumer whose lag
        does not come in time reports none, rather than partitions it may no longer hold. A
        scrape answers within about two seconds."""
        gauges, outbox, deadline_s = metrics.gauges, self.relay.outbox, self.figure_deadline_s

        async def the_outbox() -> None:
            gauges.outbox_backlog, oldest = await outbox.backlog()
            gauges.outbox_parked = await outbox.count_parked()
            age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
            gauges.outbox_oldest_age_s = max(0.0, age)

        async def kafka() -> None:
            gauges.kafka_connected = await health.kafka_state(self) == "ok"

        async def lag_of(consumer: EventConsumer) -> dict[tuple[str, int, str], int]:
            try:
                return await asyncio.wait_for(consumer.lag(), timeout=deadline_s)
            except Exception as error:  # away, rebalancing: its partitions may have moved on
                log.debug("a consumer's lag is unavailable (%s)", type(error).__name__)
                return {}

        async def lag() -> None:
            found: dict[tuple[str, int, str], int] = {}
            for partitions in await asyncio.gather(*map(lag_of, self.consumers)):
                found.update(partitions)
            gauges.consumer_lag = found

        async def in_time(figure: Coroutine[Any, Any, None]) -> None:
            try:
                await asyncio.wait_for(figure, timeout=deadline_s)
            except Exception as error:  # away, not joined yet: the last value stays
                log.debug("a figure for /metrics is unavailable (%s)", type(error).__name__)

        await asyncio.gather(in_time(the_outbox()), in_time(kafka()), lag())

    def create_app(
        self,
        title: str,
        routers: Sequence[APIRouter],
        description: str = "",
        *,
        service: object = None,
    ) -> FastAPI:
        """The service's FastAPI app: health, error handlers, tracing, and `routers`; the routes
        find `service` (the service layer) through `carepath.chassis.service.service_of`."""
        app = FastAPI(title=title, description=description, lifespan=self.lifespan)
        app.state.settings = self.settings
        app.state.runtime = self
        app.state.service = service
        app.include_router(health.router)
        for router in routers:
            app.include_router(router)
        add_error_handlers(app)
        app.add_exception_handler(StarletteHTTPException, self._refused)
        # One server span per request: its ASGI receive and send spans cost more than they tell.
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
        )
        app.add_middleware(FailedRequests)  # inside the instrumentation: its span is current
        app.add_middleware(BodySizeLimit, max_bytes=self.settings.max_body_bytes)
        hide_query_strings(app)  # around the instrumentation, and back inside it
        return app

    async def _refused(self, request: Request, error: Exception) -> Response:
        """401 and 403 about a patient are recorded as denied accesses, then answered as
        FastAPI would."""
        assert isinstance(error, StarletteHTTPException)
        if error.status_code in (401, 403):
            try:
                if await record_refusal(self.store, request, self.settings.service_name):
                    self.relay.wake()
            except Exception:  # the refusal stands whether or not it could be recorded
                log.exception("a refused request could not be recorded")
        return await http_exception_handler(request, error)


def serve(app_path: str, settings: ServiceSettings, factory: bool = False) -> None:
    """Run a service under uvicorn, with graceful shutdown on SIGTERM."""
    import uvicorn

    uvicorn.run(
        app_path,
        host=settings.http_host,
        port=settings.http_port,
        factory=factory,
        timeout_graceful_shutdown=ShutdownBudget(settings.shutdown_seconds).requests_s,
        log_level="info",
        # Forwarded headers are trusted by the app's own middleware where it needs them (the
        # dashboard, from CAREPATH_FORWARDED_ALLOW_IPS), never by uvicorn for every caller.
        proxy_headers=False,
    )
