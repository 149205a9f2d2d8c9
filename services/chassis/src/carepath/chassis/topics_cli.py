"""`carepath-topics`: create every topic of the registry on a Kafka cluster (idempotent)."""

from typing import Annotated

import typer

from carepath.chassis.kafka import ensure_topics
from carepath.contracts import ALL_TOPICS
from carepath.contracts.topics import dead_letter_topics

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def create(
    bootstrap_servers: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port of the brokers")
    ] = "localhost:9092",
    partitions: Annotated[int, typer.Option(envvar="CAREPATH_KAFKA_PARTITIONS", min=1)] = 6,
    replication_factor: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Create the CarePath topics that are missing, with retention.ms=-1."""
    topics = (*ALL_TOPICS, *dead_letter_topics())
    created = ensure_topics(
        bootstrap_servers, topics, partitions=partitions, replication_factor=replication_factor
    )
    for name in created:
        typer.echo(f"created {name} ({partitions} partitions)")
    typer.echo(f"{len(topics)} topics present on {bootstrap_servers}")


def main() -> None:
    app()
