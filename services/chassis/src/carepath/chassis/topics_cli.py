"""`carepath-topics`: create every topic of the registry on a Kafka cluster (idempotent).

Connects with the usual settings: KAFKA_BOOTSTRAP_SERVERS and, on a secured cluster,
CAREPATH_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _USERNAME, _PASSWORD, _CA_FILE of a user that
may create topics (the local secured broker's admin: var/kafka/credentials/admin.env)."""

from typing import Annotated

import typer

from carepath.chassis.kafka import ensure_topics
from carepath.chassis.settings import ServiceSettings
from carepath.contracts import ALL_TOPICS
from carepath.contracts.topics import dead_letter_topics

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def create(
    bootstrap_servers: Annotated[
        str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port,... of the brokers")
    ] = "localhost:9092",
    partitions: Annotated[int, typer.Option(envvar="CAREPATH_KAFKA_PARTITIONS", min=1)] = 6,
    replication_factor: Annotated[
        int,
        typer.Option(
            envvar="KAFKA_REPLICATION_FACTOR",
            min=1,
            help="copies of each partition (3 on a cluster of three brokers or more)",
        ),
    ] = 1,
    min_insync_replicas: Annotated[
        int | None,
        typer.Option(
            envvar="KAFKA_MIN_INSYNC_REPLICAS",
            min=1,
            help="replicas that must hold an event before acks=all succeeds "
            "[default: min(2, replication factor)]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create the CarePath topics that are missing, with retention.ms=-1 and min.insync.replicas."""
    topics = (*ALL_TOPICS, *dead_letter_topics())
    min_isr = min(2, replication_factor) if min_insync_replicas is None else min_insync_replicas
    if min_isr > replication_factor:
        raise typer.BadParameter(
            f"{min_isr} is more than the replication factor {replication_factor}",
            param_hint="--min-insync-replicas",
        )
    settings = ServiceSettings(service_name="topics").model_copy(
        update={"kafka_bootstrap_servers": bootstrap_servers}
    )
    try:
        created = ensure_topics(
            settings,
            topics,
            partitions=partitions,
            replication_factor=replication_factor,
            min_insync_replicas=min_isr,
        )
    except (ValueError, RuntimeError) as error:  # incomplete settings; brokers not answering
        typer.echo(f"carepath-topics: {error}", err=True)
        raise typer.Exit(1) from error
    for name in created:
        typer.echo(
            f"created {name} ({partitions} partitions, replication factor {replication_factor}, "
            f"min.insync.replicas={min_isr})"
        )
    typer.echo(f"{len(topics)} topics present on {bootstrap_servers}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
