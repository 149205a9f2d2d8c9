"""A whole CarePath system for fault trials, and the checks every trial ends with.

Every service runs as its own process (uvicorn) with its own database, on a Kafka of the trial's
own, so that a trial can kill any of them. A cohort is driven through the HTTP APIs by the seed's
scripted clinic staff (`carepath.seed`), whose HTTP client retries a refused connection, as a
browser would while a pod restarts. A trial ends with three checks:
- nothing lost: every event stored by any service is on its topic;
- nothing applied twice: the dashboard's read models equal a rebuild from offset 0, and the audit
  trail holds each event id once;
- no stall: every consumer group's lag and every outbox drain to 0 before a deadline.
"""

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import create_engine, text

from carepath.contracts import ALL_TOPICS
from carepath.contracts.topics import SUBSCRIPTIONS
from carepath.dashboard.cli import read_model_differences
from carepath.seed.calls import Tokens
from carepath.seed.clinic import Clinic, Endpoints, treat_cohort
from carepath.seed.cohort import plan_cohort
from carepath.seed.journey import Journey
from support import ROOT, ServiceProcess, eventually, identity_env, issuer_settings

SERVICES = ("intake", "eligibility", "session", "integration", "dashboard", "audit")
CONSUMERS = tuple(SUBSCRIPTIONS)


@dataclass
class TrialResult:
    """One row of the fault suite's table."""

    trial: str
    events: int
    lost: int
    doubled: int
    redelivered: int
    findings: int
    recovery_s: float
    journeys: int
    interrupted: int

    def problems(self, *, findings_expected: bool = False) -> list[str]:
        """What went wrong: lost or doubled events, or (unless poison was put on the topics on
        purpose) findings of the auditors' verify."""
        counts = {"lost": self.lost, "doubled": self.doubled}
        if not findings_expected:
            counts["verify findings"] = self.findings
        return [f"{count} {what}" for what, count in counts.items() if count]


class ClinicSystem:
    """Six services on `bootstrap`, each with a database of its own under `work` (or the URL
    given in `databases`)."""

    def __init__(
        self,
        work: Path,
        bootstrap: str,
        databases: dict[str, str] | None = None,
        keys_dir: Path | None = None,
    ) -> None:
        self.work, self.bootstrap = work, bootstrap
        self.databases = {name: f"sqlite:///{work / name / f'{name}.db'}" for name in SERVICES}
        self.databases.update(databases or {})
        self.keys_dir = keys_dir or work / "keys"
        self.processes: dict[str, ServiceProcess] = {}
        for name in SERVICES:  # intake first: the others are told its address
            self.processes[name] = self.process(name)

    def process(self, name: str, suffix: str = "") -> ServiceProcess:
        """A process of service `name` (another replica with a `suffix`), not yet started."""
        folder = self.work / f"{name}{suffix}"
        folder.mkdir(parents=True, exist_ok=True)
        return ServiceProcess(
            name,
            f"carepath.{name}.app:create_app",
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "DATABASE_URL": self.databases[name],
                "CAREPATH_VAR_DIR": str(folder),
                **identity_env(),
                "CAREPATH_KEYS_DIR": str(self.keys_dir),
                **self.key_service(name),
            },
            folder,
        )

    def key_service(self, name: str) -> dict[str, str]:
        """Every service but intake asks intake (the key service) for patients' data keys."""
        if name == "intake":
            return {}
        return {"CAREPATH_KEY_SERVICE_URL": self.processes["intake"].url}

    def start(self) -> "ClinicSystem":
        for process in self.processes.values():
            process.start()
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()

    def url(self, name: str) -> str:
        return self.processes[name].url

    async def drive_cohort(
        self, patients: int, seed: int, deadline_s: float = 120
    ) -> list[Journey]:
        """Take a synthetic cohort through the pathway over HTTP; returns each journey."""
        settings = issuer_settings("faults")
        plan = plan_cohort(patients, seed, datetime.now(UTC), settings.clinic_zone)
        endpoints = Endpoints(
            self.url("intake"),
            self.url("eligibility"),
            self.url("session"),
            self.url("integration"),
        )
        async with httpx.AsyncClient(timeout=30, transport=RetryingTransport()) as client:
            clinic = Clinic(endpoints, client, Tokens(settings), deadline_s)
            return await treat_cohort(clinic, plan, 6, lambda _journey: None)

    # --- the checks -----------------------------------------------------------------------

    def lag(self) -> int:
        """The records not yet consumed, summed over every consumer group and partition."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        try:
            total = 0
            for name in CONSUMERS:
                topics = [topic.name for topic in SUBSCRIPTIONS[name]]
                partitions = [
                    TopicPartition(topic, p)
                    for topic in topics
                    for p in consumer.partitions_for_topic(topic) or ()
                ]
                ends = consumer.end_offsets(partitions)
                group = f"carepath.{name}"
                committed = admin.list_group_offsets(group).get(group, {})
                total += sum(
                    max(0, end - max(0, committed[tp].offset if tp in committed else 0))
                    for tp, end in ends.items()
                )
            return total
        finally:
            consumer.close()
            admin.close()

    def outbox_backlog(self) -> int:
        """Events stored but not yet published, over every service."""
        total = 0
        for process in self.processes.values():
            body = httpx.get(f"{process.url}/readyz", timeout=5).json()
            total += body.get("outbox", {}).get("backlog", 1)
        return total

    def caught_up(self) -> bool:
        try:
            return self.outbox_backlog() == 0 and self.lag() == 0
        except (KafkaError, httpx.HTTPError):  # a broker or service still on its way back
            return False

    async def settle(self, within: float) -> float:
        """Wait until every outbox and consumer group is drained; returns how long it took."""
        started, in_a_row = time.monotonic(), 0

        async def settled_twice() -> bool:
            # Two samples in a row: a reaction committed between reading the outboxes and the
            # lag would make one sample look settled.
            nonlocal in_a_row
            in_a_row = in_a_row + 1 if await asyncio.to_thread(self.caught_up) else 0
            return in_a_row >= 2

        await eventually(settled_twice, within=within, what="every lag and outbox at 0", every=0.5)
        return time.monotonic() - started

    def stored_event_ids(self) -> set[str]:
        """The id of every event any service stored."""
        ids: set[str] = set()
        for url in set(self.databases.values()):
            engine = create_engine(url)
            try:
                with engine.connect() as connection:
                    rows = connection.execute(text("SELECT event_id FROM event_store"))
                    ids.update(str(row[0]).replace("-", "") for row in rows)
            finally:
                engine.dispose()
        return ids

    def ids_on_topics(self) -> Counter[str]:
        """How often each event id is on the context topics (not-JSON records skipped)."""
        return Counter(
            str(json.loads(value)["id"]).replace("-", "")
            for value in read_all(self.bootstrap, [topic.name for topic in ALL_TOPICS])
            if value.startswith(b"{")
        )

    def inbox_ids(self, consumer: str) -> set[str]:
        """The event ids `consumer` has applied."""
        engine = create_engine(self.databases[consumer])
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT event_id FROM inbox WHERE consumer = :name"), {"name": consumer}
                )
                return {str(row[0]).replace("-", "") for row in rows}
        finally:
            engine.dispose()

    def audited_event_ids(self) -> Counter[str]:
        """How often the audit trail holds each event id (its column is unique: a double would
        fail the insert, so "once" is checked by every stored event being there)."""
        engine = create_engine(self.databases["audit"])
        try:
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT event_id FROM audit_trail"))
                return Counter(str(row[0]).replace("-", "") for row in rows)
        finally:
            engine.dispose()

    def verify_findings(self) -> int:
        """Findings of `carepath-audit verify` over the topics (redeliveries are not findings)."""
        result = subprocess.run(
            [
                *(sys.executable, "-m", "carepath.audit.cli", "verify", "--json"),
                *("--bootstrap-servers", self.bootstrap, "--keys-dir", str(self.keys_dir)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode in (0, 1), result.stderr[-2000:]
        return len(json.loads(result.stdout)["findings"])

    def dashboard_differences(self) -> list[str]:
        """Rows in which the live dashboard differs from a rebuild from offset 0."""
        rebuilt = f"sqlite:///{self.work / f'rebuilt-{time.monotonic_ns()}.db'}"
        result = subprocess.run(
            [
                *(sys.executable, "-m", "carepath.dashboard.cli", "rebuild"),
                *("--database", rebuilt, "--bootstrap-servers", self.bootstrap),
                *("--keys-dir", str(self.keys_dir)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return asyncio.run(read_model_differences(self.databases["dashboard"], rebuilt))

    def verdict(
        self, trial: str, recovery_s: float, journeys: Iterable[Journey] = ()
    ) -> TrialResult:
        """The trial's row: run once the system has settled."""
        stored, on_topics = self.stored_event_ids(), self.ids_on_topics()
        audited, differences = self.audited_event_ids(), self.dashboard_differences()
        journeys = list(journeys)
        return TrialResult(
            trial=trial,
            events=len(stored),
            # not on its topic, or never reached the audit trail
            lost=len(stored - on_topics.keys()) + len(stored - audited.keys()),
            doubled=sum(count - 1 for count in audited.values()) + len(differences),
            redelivered=sum(count - 1 for count in on_topics.values()),
            findings=self.verify_findings(),
            recovery_s=recovery_s,
            journeys=len(journeys),
            interrupted=sum(1 for j in journeys if j.refusal is not None or j.surprises),
        )


class RetryingTransport(httpx.AsyncBaseTransport):
    """What a browser and a person do while a service restarts: a refused connection is tried
    again (httpx's own retries, with a growing wait, ~60 s in all), and so is a read whose answer
    was lost (GET is safe to repeat). A command whose answer was lost is not repeated: whether it
    was taken is for the caller to find out."""

    def __init__(self, reads: int = 3) -> None:
        self._inner = httpx.AsyncHTTPTransport(retries=7)
        self._reads = reads

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Each try's connection attempts already wait and retry while the service is down.
        for attempt in range(self._reads):
            try:
                return await self._inner.handle_async_request(request)
            except httpx.TransportError:
                if request.method != "GET" or attempt == self._reads - 1:
                    raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._inner.aclose()


def read_all(bootstrap: str, topics: list[str]) -> list[bytes]:
    """Every record value of `topics`, from the beginning to the end offsets as of now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        values: list[bytes] = []
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, "could not read the topics to their end"
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
        return values
    finally:
        consumer.close()
