"""`carepath-erase PATIENT --ground G --reference R`: erase a patient's identifying and free-text
data (crypto-shredding) through intake's API, as a privacy officer.

The token comes from `--token` or `CAREPATH_TOKEN`; for local runs, without one, a privacy
officer's token is made with the local services' dev key. Asks for confirmation unless `--yes`.
"""

import os
from datetime import timedelta
from typing import Annotated
from uuid import UUID

import httpx
import typer

from carepath.chassis.auth import Role, issue_token
from carepath.chassis.settings import ServiceSettings
from carepath.contracts.intake import ErasureGround

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def erase(
    patient: Annotated[UUID, typer.Argument(help="The patient id.")],
    ground: Annotated[ErasureGround, typer.Option(help="Why the data is erased.")],
    reference: Annotated[
        str, typer.Option(help="The clinic's reference of the request (a ticket number).")
    ],
    url: Annotated[
        str, typer.Option(envvar="CAREPATH_INTAKE_URL", help="Intake's address.")
    ] = "http://127.0.0.1:8001",
    token: Annotated[
        str | None, typer.Option(envvar="CAREPATH_TOKEN", help="A privacy officer's token.")
    ] = None,
    user: Annotated[
        str, typer.Option(help="Who erases (the dev token's subject).")
    ] = os.environ.get("USER", "privacy-officer"),
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Destroy the patient's data key and record the erasure. Cannot be undone."""
    if not yes:
        typer.confirm(
            f"Erase every identifying and free-text field of patient {patient}? "
            "This cannot be undone",
            abort=True,
        )
    bearer = token or issue_token(
        ServiceSettings(service_name="erase"), Role.PRIVACY_OFFICER, user, ttl=timedelta(minutes=5)
    )
    try:
        response = httpx.post(
            f"{url}/patients/{patient}/erasure",
            json={"ground": ground.value, "request_reference": reference},
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=30,
        )
    except httpx.HTTPError as error:
        typer.echo(f"intake at {url} is not reachable ({type(error).__name__})", err=True)
        raise typer.Exit(2) from None
    if response.status_code != httpx.codes.OK:
        detail = response.json().get("detail") if response.content else response.reason_phrase
        typer.echo(f"not erased ({response.status_code}): {detail}", err=True)
        raise typer.Exit(1)
    erased = response.json()
    typer.echo(
        f"patient {patient}: identifying and free-text data erased at {erased['erased_at']} "
        f"({erased['ground']}, {erased['request_reference']})"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
