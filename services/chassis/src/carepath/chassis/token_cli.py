"""`carepath-token ROLE [--sub USER]`: print a bearer token that the local services accept,
signed by the local dev issuer (`carepath-issuer` shows, rotates and serves its keys)."""

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
    audience: Annotated[
        list[str] | None,
        typer.Option(
            "--audience",
            help="A service the token is for (carepath-intake, ...; repeatable). "
            "Default: every local service.",
        ),
    ] = None,
) -> None:
    """Print a JWT for local use, signed by the dev issuer (var/dev-issuer, or
    CAREPATH_DEV_ISSUER_DIR) that the local services trust."""
    settings = ServiceSettings(service_name="token")
    typer.echo(
        issue_token(settings, role, sub, ttl=timedelta(hours=hours), audience=audience or None)
    )


def main() -> None:
    app()
