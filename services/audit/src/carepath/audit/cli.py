"""`carepath-audit`: the auditors' tool. Works from the brokers alone (kafka-python) and the
services' public keys."""

import time
from pathlib import Path
from typing import Annotated

import typer
from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from carepath.audit.verify import Location, LogVerifier
from carepath.chassis.evidence import Verifier
from carepath.contracts import ALL_TOPICS

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console()


@app.callback()
def main_options() -> None:
    """The auditors' tool."""


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
) -> None:
    """Read the topics from offset 0 and check, per stream: gapless sequences, the prevhash chain,
    signatures, schema validity and duplicates. Exit status 1 on any finding."""
    verifier = Verifier.from_directory(keys_dir)
    if not verifier.services:
        console.print(f"[red]no public keys in {keys_dir}[/red]")
        raise typer.Exit(2)
    log = LogVerifier(verifier)
    started = time.perf_counter()
    for name in topic or [t.name for t in ALL_TOPICS]:
        read_topic(bootstrap_servers, name, log)
    elapsed = time.perf_counter() - started
    for finding in log.findings:
        console.print(f"[red]finding[/red] {finding}", highlight=False)
    rate = log.events / elapsed if elapsed else 0.0
    checked = f"{log.events} events in {log.streams} streams checked in {elapsed:.1f} s"
    console.print(
        f"{checked} ({rate:,.0f} events/s); {len(log.findings)} findings; "
        f"keys of {', '.join(verifier.services)}",
        highlight=False,
    )
    if log.findings:
        raise typer.Exit(1)


def read_topic(bootstrap_servers: str, name: str, log: LogVerifier) -> None:
    """Feed every record of a topic, partition by partition in offset order, to `log`."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(name, p) for p in sorted(reader.partitions_for_topic(name) or ())
        ]
        ends = reader.end_offsets(partitions)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task(name, total=sum(ends.values()))
            for partition in partitions:
                reader.assign([partition])
                reader.seek_to_beginning(partition)
                while reader.position(partition) < ends[partition]:
                    for record in reader.poll(timeout_ms=500, max_records=2000).get(partition, []):
                        if record.offset >= ends[partition]:
                            break
                        log.check(Location(name, partition.partition, record.offset), record.value)
                        progress.advance(task)
    finally:
        reader.close()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
