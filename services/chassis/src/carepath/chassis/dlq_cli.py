"""`carepath-dlq`: the operators' tool for dead letters: list them, show them, replay them.

A consumer that cannot process a record puts it, unchanged, on its dead-letter topic
`<topic>.dlq.<consumer>` with the error and the record's origin in `dlq_*` headers. After a fix,
`replay` sends each waiting dead letter back to its source topic (same key, value and `ce_*`
headers, plus `carepath-redrive-for: <consumer>`), so that this one consumer tries it again; the
others drop it as a copy of an event they have. A dead letter is replayed once: after the brokers
acknowledge the copy, its offset is committed in the group `carepath.dlq-replay.<consumer>`.

Exit status: 0 done; 1 the brokers did not answer (a replay resumes where it stopped); 3 replay
stopped at a record that is not a CloudEvent (see `replay --skip-unreadable`).
Record values may hold patient data: nothing here prints them.
"""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import typer
from kafka.errors import KafkaError
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from carepath.chassis.dead_letter_counts import (
    DeadLetterCount,
    DeadLetterTopic,
    PartitionBacklog,
)
from carepath.chassis.dead_letter_log import Brokers, BrokersAway, DeadLetter
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import ALL_TOPICS, topic_named
from carepath.contracts.envelope import TYPE_HEADER, routing_header

# No local variables in tracebacks: they would show record values and the SASL password.
app = typer.Typer(
    add_completion=False, help=__doc__, no_args_is_help=True, pretty_exceptions_show_locals=False
)
# Lines are not broken at the terminal's width (the terminal wraps them), so scripts can grep them.
console = Console(stderr=True, soft_wrap=True)  # notes and errors
out = Console(soft_wrap=True)  # results

EXIT_HELD = 3  # replay stopped at a record that is not a CloudEvent


@contextmanager
def connected(bootstrap_servers: str | None, timeout_s: float) -> Iterator[Brokers]:
    """The brokers, or a clear message and exit status 1 when they do not answer."""
    settings = ServiceSettings(service_name="dlq")
    if bootstrap_servers:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap_servers})
    where = f"Kafka at {settings.kafka_bootstrap_servers} ({settings.kafka_security_protocol})"
    try:
        brokers = Brokers(settings, timeout_s)
        try:
            yield brokers
        finally:
            brokers.close()
    except (KafkaError, BrokersAway) as error:
        note(
            f"{where} did not answer ({error}); check KAFKA_BOOTSTRAP_SERVERS "
            "(--bootstrap-servers) and CAREPATH_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, "
            "_USERNAME, _PASSWORD, _CA_FILE",
            style="red",
        )
        raise typer.Exit(1) from error


Bootstrap = Annotated[
    str | None,
    typer.Option(
        help="host:port,... of the brokers (default: KAFKA_BOOTSTRAP_SERVERS, else localhost:9092)",
        show_default=False,
    ),
]
Timeout = Annotated[float, typer.Option(min=1, help="Seconds to wait for the brokers.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Consumer = Annotated[str, typer.Argument(help="The consumer: eligibility, session, dashboard, ...")]
SourceTopic = Annotated[
    str | None, typer.Option("--topic", help="Only what came from this topic.", show_default=False)
]


def consumer_topics(consumer: str, source: str | None) -> list[DeadLetterTopic]:
    """The dead-letter topics of `consumer`, or its one for `source`."""
    if source is None:
        return [DeadLetterTopic.of(topic, consumer) for topic in ALL_TOPICS]
    try:
        return [DeadLetterTopic.of(topic_named(source), consumer)]
    except KeyError as unknown:
        raise typer.BadParameter(str(unknown), param_hint="--topic") from None


@app.command("list")
def list_dead_letters(
    bootstrap_servers: Bootstrap = None, timeout: Timeout = 15, as_json: AsJson = False
) -> None:
    """Per consumer and source topic: dead letters, how many wait for a replay, the newest."""
    rows: list[tuple[DeadLetterCount, str | None]] = []
    with connected(bootstrap_servers, timeout) as brokers:
        for topic, partitions in brokers.backlogs(brokers.dead_letter_topics()).items():
            if (count := DeadLetterCount.of(topic, partitions)).total:
                rows.append((count, brokers.newest(topic, partitions)))
    if as_json:
        listed = [{**count.as_dict(), "newest": newest} for count, newest in rows]
        sys.stdout.write(json.dumps(listed, indent=2) + "\n")
        return
    if not rows:
        out.print("no dead letters")
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("Consumer", overflow="fold")
    table.add_column("Source topic", overflow="fold")
    table.add_column("Total", justify="right")
    table.add_column("Waiting", justify="right")
    table.add_column("Newest (UTC)", overflow="fold")
    for count, newest in rows:
        waiting = f"[bold yellow]{count.waiting}[/]" if count.waiting else "0"
        table.add_row(
            escape(count.topic.consumer),
            count.topic.source,
            str(count.total),
            waiting,
            _when(newest),
        )
    out.print(table)


@app.command()
def show(
    consumer: Consumer,
    topic: SourceTopic = None,
    limit: Annotated[int, typer.Option(min=1, help="Only the newest N.")] = 50,
    bootstrap_servers: Bootstrap = None,
    timeout: Timeout = 15,
    as_json: AsJson = False,
) -> None:
    """Each dead letter of CONSUMER: where it is, where it came from, the event's type and id, the
    error, tries, when, and whether it was replayed. Never the record's content."""
    letters: list[DeadLetter] = []
    with connected(bootstrap_servers, timeout) as brokers:
        for dlq, partitions in brokers.backlogs(consumer_topics(consumer, topic)).items():
            for p in partitions:
                letters.extend(brokers.read(dlq, p, max(p.first, p.end - limit)))
    letters.sort(key=lambda letter: (letter.header.get("dlq_at", ""), letter.location))
    letters = letters[-limit:]
    if as_json:
        sys.stdout.write(json.dumps([letter.as_dict() for letter in letters], indent=2) + "\n")
        return
    if not letters:
        out.print(f"no dead letters for {consumer}", highlight=False, markup=False)
        return
    for letter in letters:
        d = letter.as_dict()
        state = "replayed" if letter.replayed else "[bold yellow]waiting[/]"
        out.print(f"[bold]{escape(letter.location)}[/]  {state}", highlight=False)
        for label, text in (
            ("from", letter.origin),
            ("event", f"{d['event_type'] or '-'} {d['event_id'] or '(no event id header)'}"),
            ("error", f"{d['error_type']}: {d['error']}"),
            ("tries", f"{d['attempts']}, set aside {_when(d['at'])}"),
        ):
            out.print(f"  [dim]{label:<6}[/] {escape(text)}", highlight=False)
    waiting = sum(1 for letter in letters if not letter.replayed)
    out.print(
        f"{len(letters)} dead letters of {consumer}, {waiting} waiting",
        highlight=False,
        markup=False,
    )


@dataclass
class ReplayRun:
    """One replay of one consumer's waiting dead letters, partition by partition in offset order.

    A dead letter is sent back, then marked replayed. Within the run, a second dead letter of an
    event already sent back is skipped (and marked). A record that is not a CloudEvent cannot be
    fixed by a code change: it is never sent back; with `skip_unreadable` it is marked and the
    run goes on past it, otherwise the run holds its partition there (nothing after it is sent,
    so the committed offset stays exact)."""

    brokers: Brokers
    dry_run: bool
    skip_unreadable: bool
    replayed: int = 0
    duplicates: int = 0
    unreadable: int = 0
    held: int = 0
    seen: set[str] = field(default_factory=set)

    def partition(self, dlq: DeadLetterTopic, backlog: PartitionBacklog) -> None:
        for letter in self.brokers.read(dlq, backlog, backlog.next_to_replay):
            if not self.take(letter):
                self.held += 1
                return
            if not self.dry_run:
                self.brokers.mark_replayed(letter)

    def take(self, letter: DeadLetter) -> bool:
        """Send `letter` back or skip it; False when the run must hold at it."""
        event_id = letter.event_id
        if event_id is None:
            if not self.skip_unreadable:
                note(
                    f"held at {letter.location}: not a CloudEvent, so no fix makes "
                    f"{letter.topic.consumer} take it; --skip-unreadable goes on past it",
                    style="red",
                )
                return False
            self.unreadable += 1
            note(f"skipped {letter.location}: not a CloudEvent")
        elif event_id in self.seen:
            self.duplicates += 1
            note(f"skipped {letter.location}: event {event_id} was sent back in this run")
        else:
            self.seen.add(event_id)
            if not self.dry_run:
                self.brokers.send_back(letter)
            self.replayed += 1
            verb = "would replay" if self.dry_run else "replayed"
            event_type = routing_header(letter.header, TYPE_HEADER)
            out.print(
                f"{verb} {letter.location} ({event_type} {event_id}) to {letter.topic.source}",
                highlight=False,
                markup=False,
            )
        return True

    def summary(self, consumer: str) -> str:
        verb = "would be replayed" if self.dry_run else "replayed"
        skipped = self.duplicates + self.unreadable
        line = (
            f"{consumer}: {self.replayed} {verb}, {skipped} skipped (already sent in this run: "
            f"{self.duplicates}; not CloudEvents: {self.unreadable})"
        )
        if self.held:
            line += f"; held at {self.held} record(s) that are not CloudEvents"
        return line


@app.command()
def replay(
    consumer: Consumer,
    topic: SourceTopic = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be replayed; send nothing.")
    ] = False,
    skip_unreadable: Annotated[
        bool,
        typer.Option(
            "--skip-unreadable",
            help="Mark records that are not CloudEvents as handled and go on past them "
            "(otherwise replay holds at them: exit status 3).",
        ),
    ] = False,
    bootstrap_servers: Bootstrap = None,
    timeout: Timeout = 15,
) -> None:
    """Send each waiting dead letter of CONSUMER back to its source topic, for CONSUMER only, and
    mark it replayed once the brokers acknowledge it. Run it after the fix is deployed."""
    with connected(bootstrap_servers, timeout) as brokers:
        run = ReplayRun(brokers, dry_run, skip_unreadable)
        for dlq, partitions in brokers.backlogs(consumer_topics(consumer, topic)).items():
            for p in partitions:
                if p.waiting:
                    run.partition(dlq, p)
    out.print(run.summary(consumer), highlight=False, markup=False)
    if run.held:
        raise typer.Exit(EXIT_HELD)


def note(text: str, style: str | None = None) -> None:
    """A line on stderr, as written (no markup: it may quote topics like `t[0]@1`)."""
    console.print(text, style=style, highlight=False, markup=False)


def _when(iso: str | None) -> str:
    """A `dlq_at` time to the second, in UTC."""
    try:
        return datetime.fromisoformat(iso or "").astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso or "-"


def main() -> None:
    app()


if __name__ == "__main__":
    main()
