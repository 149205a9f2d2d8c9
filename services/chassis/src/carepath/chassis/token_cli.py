"""`carepath-token ROLE [--sub USER]`: print a bearer token that the local services accept."""

from datetime import timedelta
from typing import Annotated

import typer

from carepath.chassis.auth import Role, issue_token
from carepath.chassis.settings import ServiceSettings

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def token(
    role: Annotated[Role, typer.Argument(help="The role the token carries.")],
    sub: Annotated[str, typer.Option("--sub", help="User id (the token's subject).")] = "dev-user",
    hours: Annotated[
        float,
        typer.Option(help="Validity in hours (the services take at most 12).", min=0.01, max=12),
    ] = 12,
) -> None:
    """Print a JWT for local use, signed with the key the local services use."""
    settings = ServiceSettings(service_name="token")
    typer.echo(issue_token(settings, role, sub, ttl=timedelta(hours=hours)))


def main() -> None:
    app()
