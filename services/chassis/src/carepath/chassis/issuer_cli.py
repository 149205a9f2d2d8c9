"""`carepath-issuer serve | rotate | jwks`: the local dev identity provider. `serve` answers as
an OpenID Connect provider would (discovery document, JWKS, client-credentials token endpoint),
so the services' path through a provider's JWKS and token endpoint runs locally and in tests."""

import hmac
import json
from datetime import timedelta
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI, Form, HTTPException, Request, status

from carepath.chassis.auth import Role
from carepath.chassis.dev_issuer import DevIssuer
from carepath.chassis.settings import ServiceSettings

SERVICE_TOKEN_SECONDS = 600

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


def _issuer() -> DevIssuer:
    return DevIssuer(ServiceSettings(service_name="issuer").resolved_dev_issuer_dir()).ensure()


def issuer_app(issuer: DevIssuer) -> FastAPI:
    """The dev issuer's HTTP face. The token endpoint gives role `service` to a client that
    presents the issuer's client secret (one secret for all local services: it is a dev tool)."""
    web = FastAPI(title="CarePath dev issuer", docs_url=None, redoc_url=None)

    @web.get("/.well-known/openid-configuration")
    def discovery(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "issuer": issuer.issuer,
            "jwks_uri": f"{base}/jwks.json",
            "token_endpoint": f"{base}/token",
            "grant_types_supported": ["client_credentials"],
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    @web.get("/jwks.json")
    def jwks() -> dict[str, Any]:
        return issuer.jwks()  # read each time: a rotation shows at once

    @web.post("/token")
    def token(
        grant_type: Annotated[str, Form()],
        client_id: Annotated[str, Form(min_length=1, max_length=100)],
        client_secret: Annotated[str, Form()],
        audience: Annotated[str, Form(min_length=1, max_length=100)],
    ) -> dict[str, Any]:
        if grant_type != "client_credentials":
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "unsupported_grant_type")
        if not hmac.compare_digest(client_secret.encode(), issuer.client_secret().encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid_client")
        access = issuer.issue(
            Role.SERVICE.value, client_id, audience, ttl=timedelta(seconds=SERVICE_TOKEN_SECONDS)
        )
        return {"access_token": access, "token_type": "Bearer", "expires_in": SERVICE_TOKEN_SECONDS}

    return web


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8009,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    client_secret: Annotated[
        str | None,
        typer.Option(
            envvar="CAREPATH_DEV_ISSUER_CLIENT_SECRET",
            help="The client secret the token endpoint accepts (default: the one in the "
            "issuer's directory); for containers, where services cannot read that file.",
        ),
    ] = None,
) -> None:
    """Serve the discovery document, the JWKS (/jwks.json) and the token endpoint (/token)."""
    issuer = _issuer()
    if client_secret:
        issuer.accept_client_secret(client_secret)
    uvicorn.run(issuer_app(issuer), host=host, port=port, log_level="warning")


@app.command()
def rotate() -> None:
    """Start signing with a new key; tokens of the old keys stay valid until they expire."""
    typer.echo(f"signing with key {_issuer().rotate()}")


@app.command()
def jwks() -> None:
    """Print the JWKS (the public keys services verify tokens with)."""
    typer.echo(json.dumps(_issuer().jwks(), indent=1))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
