"""`carepath-audit`: the auditors' tool. Works from the brokers alone (kafka-python) and the
services' public keys."""

import csv
import html
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console

from carepath.audit.trail import FIELDS, AuditEntry, consent_change, entry_for, fhir_bundle
from carepath.audit.verify import Location, LogVerifier
from carepath.chassis.auth import Role, issue_token
from carepath.chassis.evidence import Verifier
from carepath.chassis.evidence_pool import EvidencePool, evidence_of_records
from carepath.chassis.replay import ReplayError, TopicReplay, with_progress
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import ALL_TOPICS, CloudEvent

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(stderr=True)  # progress and notes
out = Console()  # results


@app.callback()
def main_options() -> None:
    """The auditors' tool (the audit service itself runs as `carepath-audit-service`)."""


@app.command()
def verify(
    bootstrap_servers: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS")
    ] = "localhost:9092",
    keys_dir: Annotated[
        Path, typer.Option(envvar="CAREPATH_KEYS_DIR", help="The services' public keys.")
    ] = Path("var/keys"),
    topic: Annotated[
        list[str] | None, typer.Option(help="Topics to verify (default: every CarePath topic).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON document.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Processes checking signatures (default: one per core; 0: none)."),
    ] = None,
) -> None:
    """Read the topics from offset 0 and check, per stream: gapless sequences, the prevhash chain,
    signatures, schema validity and duplicates. Exit status 1 on any finding.

    Redelivered copies (exact duplicates of an event already seen, which at-least-once delivery
    allows) are counted in the report but are not findings."""
    verifier = Verifier.from_directory(keys_dir)
    if not verifier.services:
        out.print(f"[red]no public keys in {keys_dir}[/red]")
        raise typer.Exit(2)
    log = LogVerifier(verifier)
    started = time.perf_counter()
    with EvidencePool(keys_dir, workers) as pool:  # forked before the Kafka client starts
        replayed = records(bootstrap_servers, topic or [t.name for t in ALL_TOPICS])
        for (location, value), evidence in pool.checked(
            evidence_of_records, replayed, lambda record: (record[0].topic, record[1])
        ):
            log.check(location, value, evidence)
    elapsed = time.perf_counter() - started
    if as_json:
        sys.stdout.write(json.dumps(verify_report(log, elapsed), indent=2) + "\n")
    else:
        print_verify_report(log, elapsed)
    if log.findings:
        raise typer.Exit(1)


def print_verify_report(log: LogVerifier, elapsed: float) -> None:
    """The findings, one a line, then a summary line."""
    for finding in log.findings:
        out.print(f"[red]finding[/red] {finding}", highlight=False)
    rate = log.events / elapsed if elapsed else 0.0
    checked = f"{log.events} events in {log.streams} streams checked in {elapsed:.1f} s"
    out.print(
        f"{checked} ({rate:,.0f} events/s); {len(log.findings)} findings; "
        f"{redeliveries_note(log.redeliveries)}; keys of {', '.join(log.verifier.services)}",
        highlight=False,
    )


def redeliveries_note(redeliveries: int) -> str:
    """Why the copies the relay republished are in the log, and that they are not findings."""
    if redeliveries == 0:
        return "0 redelivered copies"
    if redeliveries == 1:
        return (
            "1 redelivered copy (an exact duplicate of an event already seen; "
            "at-least-once delivery), not a finding"
        )
    return (
        f"{redeliveries} redelivered copies (exact duplicates of events already seen; "
        "at-least-once delivery), not findings"
    )


def verify_report(log: LogVerifier, elapsed: float) -> dict[str, Any]:
    """The report as a JSON document, for scripts: the same facts as the printed one."""
    return {
        "events": log.events,
        "streams": log.streams,
        "redeliveries": log.redeliveries,
        "findings": [
            {
                "topic": f.location.topic,
                "partition": f.location.partition,
                "offset": f.location.offset,
                "kind": f.kind,
                "detail": f.detail,
            }
            for f in log.findings
        ],
        "seconds": round(elapsed, 3),
        "keys": log.verifier.services,
    }


def records(bootstrap_servers: str, topics: list[str]) -> Iterator[tuple[Location, bytes | None]]:
    """Every record of `topics` as the brokers hold them now, partition by partition, in order.

    The connection's security settings come from the environment (`CAREPATH_KAFKA_*`); if the
    brokers cannot be reached, says so and exits with status 2.
    """
    settings = ServiceSettings(service_name="audit", kafka_bootstrap_servers=bootstrap_servers)
    try:
        with TopicReplay(settings, topics) as replay:
            for record in with_progress(replay, console, transient=True):
                yield Location(record.topic, record.partition, record.offset), record.value
    except ReplayError as error:
        console.print(f"[red]cannot replay[/red] {error}", highlight=False)
        raise typer.Exit(2) from error


def trail(bootstrap_servers: str, until: datetime | None = None) -> list[AuditEntry]:
    """The audit trail of every topic, in time order, as of `until`."""
    events: list[tuple[CloudEvent, Location]] = []
    for location, value in records(bootstrap_servers, [t.name for t in ALL_TOPICS]):
        try:
            event = CloudEvent.from_json(value or b"")
        except ValidationError:
            continue  # `verify` reports it
        if until is None or event.time <= until:
            events.append((event, location))
    events.sort(key=lambda pair: (pair[0].time, str(pair[1])))
    entries, previous, consents = [], "", dict[str, str | None]()
    for event, location in events:
        entry = entry_for(event, str(location), previous, consents.get(event.subject))
        entries.append(entry)
        previous = entry.entry_hash
        changes, consent = consent_change(event)
        if changes:
            consents[event.subject] = consent
    return entries


Bootstrap = Annotated[str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS")]
AuditUrl = Annotated[
    str, typer.Option(envvar="CAREPATH_AUDIT_URL", help="The audit service, which records it.")
]
Token = Annotated[
    str | None,
    typer.Option(envvar="CAREPATH_TOKEN", help="Your auditor's token (default: a dev one)."),
]
Time = Annotated[
    datetime | None, typer.Option(help="ISO 8601 with offset, e.g. 2026-11-25T12:00:00+00:00")
]


@app.command()
def replay(
    bootstrap_servers: Bootstrap = "localhost:9092",
    until: Time = None,
    output: Annotated[Path, typer.Option(help="The local trail: one JSON entry per line.")] = Path(
        "var/audit-trail.jsonl"
    ),
) -> None:
    """Read every topic from offset 0 (up to a time) into a fresh local trail, chained by hash."""
    entries = trail(bootstrap_servers, _utc(until))
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w") as file:
        for entry in entries:
            file.write(json.dumps(entry.as_dict()) + "\n")
    last = entries[-1].entry_hash if entries else "-"
    console.print(
        f"{len(entries)} trail entries written to {output}; last hash {last}", highlight=False
    )


@app.command()
def timeline(
    patient: Annotated[str, typer.Option(help="The patient id.")],
    bootstrap_servers: Bootstrap = "localhost:9092",
    as_of: Time = None,
    audit_url: AuditUrl = "http://127.0.0.1:8005",
    token: Token = None,
) -> None:
    """A patient's pathway as the log showed it at a time (default: now). Like an export, it is
    recorded on the patient's record first."""
    entries = [e for e in trail(bootstrap_servers, _utc(as_of)) if e.patient_id == patient]
    record_export(audit_url, token, "timeline", entries or [])
    for e in entries:  # one line per event, tab-separated: readable, and easy to process further
        who = f"{e.role}:{e.user_id}"
        sys.stdout.write(
            f"{e.recorded}\t{e.event_type.split('.')[2]}\t{who}\t{e.action}\t{e.data_category}\n"
        )
    console.print(
        f"{len(entries)} events for patient {patient}" + (f" as of {as_of}" if as_of else "")
    )


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    FHIR = "fhir"


@app.command()
def export(
    format: Annotated[Format, typer.Option("--format")] = Format.JSON,
    bootstrap_servers: Bootstrap = "localhost:9092",
    since: Time = None,
    until: Time = None,
    sort: Annotated[str, typer.Option(help=f"Field to sort by: {', '.join(FIELDS)}")] = "recorded",
    descending: bool = False,
    output: Annotated[
        Path | None, typer.Option(help="File to write (default: standard output).")
    ] = None,
    audit_url: AuditUrl = "http://127.0.0.1:8005",
    token: Token = None,
) -> None:
    """A report of the trail for a period: JSON, CSV, HTML, or a FHIR R4 Bundle of AuditEvents.
    The export is recorded first (`POST /exports` on the audit service: one access event per
    patient in it); when it cannot be recorded, nothing is exported."""
    if sort not in FIELDS:
        raise typer.BadParameter(f"sort by one of {', '.join(FIELDS)}", param_hint="--sort")
    start = _utc(since)
    entries = [
        e
        for e in trail(bootstrap_servers, _utc(until))
        if start is None or e.recorded >= start.isoformat()
    ]
    entries.sort(key=lambda e: str(getattr(e, sort) or ""), reverse=descending)
    record_export(audit_url, token, format, entries)
    text = render(entries, format)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        console.print(f"{len(entries)} entries written to {output} ({format.value})")


def record_export(url: str, token: str | None, format: str, entries: list[AuditEntry]) -> None:
    """Have the audit service record the export; exit 2 (nothing written) when it cannot."""
    bearer = token or issue_token(
        ServiceSettings(service_name="audit-cli"),
        Role.AUDITOR,
        os.environ.get("USER", "auditor"),
        ttl=timedelta(minutes=5),
        audience="carepath-audit",
    )
    patients = list(dict.fromkeys(e.patient_id for e in entries))
    notice = {"format": str(format), "patients": patients, "entries": len(entries)}
    try:
        response = httpx.post(
            f"{url}/exports",
            json=notice,
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=120,
        )
    except httpx.HTTPError as error:
        console.print(
            f"[red]not exported[/]: the audit service at {url} cannot record it "
            f"({type(error).__name__}); every export is recorded"
        )
        raise typer.Exit(2) from None
    if response.status_code != httpx.codes.OK:
        detail = response.json().get("detail") if response.content else response.reason_phrase
        console.print(
            f"[red]not exported[/]: the audit service refused to record it "
            f"({response.status_code}: {detail})"
        )
        raise typer.Exit(2)


def render(entries: list[AuditEntry], format: Format) -> str:
    rows = [e.as_dict() for e in entries]
    if format is Format.JSON:
        return json.dumps(rows, indent=2) + "\n"
    if format is Format.FHIR:
        return json.dumps(fhir_bundle(entries), indent=2) + "\n"
    if format is Format.CSV:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
    head = "".join(f"<th>{html.escape(f)}</th>" for f in FIELDS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[f] or ''))}</td>" for f in FIELDS) + "</tr>"
        for row in rows
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>CarePath audit report</title>"
        f"<h1>CarePath audit report</h1><p>{len(rows)} entries</p>"
        f"<table border=1><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
