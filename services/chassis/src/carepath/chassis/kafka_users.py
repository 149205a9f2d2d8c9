"""The SCRAM users and ACLs of `kafka_acls` on a broker that is its own authority (the secured
local broker of infra/kafka; on Kubernetes the Strimzi User Operator does this from KafkaUsers).

    python -m carepath.chassis.kafka_users apply --credentials-dir var/kafka/credentials

connects as the super user from the usual settings (KAFKA_BOOTSTRAP_SERVERS,
CAREPATH_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _USERNAME, _PASSWORD, _CA_FILE), gives every
client of `kafka_acls.clients()` a SCRAM user with a password kept in `<dir>/<user>.password`
(made once), makes its ACLs exactly the derived ones (adds the missing, removes the others), and
writes `<dir>/<user>.env`: the client's settings, to be sourced by a service or the auditors.
"""

import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialUpsertion,
)

from carepath.chassis.kafka import client_config
from carepath.chassis.kafka_acls import clients, permissions, user_name
from carepath.chassis.settings import ServiceSettings

RESOURCE_TYPES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}


def acl_bindings(client: str) -> list[ACL]:
    """The Kafka ACLs of `client`: one allow binding per resource and operation, any host."""
    principal = f"User:{user_name(client)}"
    return [
        ACL(
            principal,
            "*",
            ACLOperation[operation.upper()],
            ACLPermissionType.ALLOW,
            ResourcePattern(
                RESOURCE_TYPES[permission.resource],
                permission.name,
                ACLResourcePatternType.PREFIXED
                if permission.prefixed
                else ACLResourcePatternType.LITERAL,
            ),
        )
        for permission in permissions(client)
        for operation in permission.operations
    ]


def _key(acl: ACL) -> tuple[Any, ...]:
    pattern = acl.resource_pattern
    return (
        acl.principal,
        acl.host,
        acl.operation,
        acl.permission_type,
        pattern.resource_type,
        pattern.resource_name,
        pattern.pattern_type,
    )


def granted(admin: KafkaAdminClient, client: str) -> list[ACL]:
    """The ACLs the brokers hold for `client`'s user now."""
    every_resource = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
    found, _ = admin.describe_acls(  # raises kafka-python's error when refused
        ACLFilter(
            f"User:{user_name(client)}",
            None,
            ACLOperation.ANY,
            ACLPermissionType.ANY,
            every_resource,
        )
    )
    return list(found)


def apply_acls(admin: KafkaAdminClient, client: str, *, timeout_s: float = 30.0) -> None:
    """Make `client`'s ACLs on the brokers exactly the derived ones; returns once the brokers
    report them (ACLs reach the authorizer through the metadata log, a moment after the answer)."""
    wanted = {_key(acl): acl for acl in acl_bindings(client)}
    held = {_key(acl): acl for acl in granted(admin, client)}
    if missing := [acl for key, acl in wanted.items() if key not in held]:
        result = admin.create_acls(missing)
        if result["failed"]:
            raise RuntimeError(f"creating ACLs of {user_name(client)} failed: {result['failed']}")
    if stale := [_filter(acl) for key, acl in held.items() if key not in wanted]:
        admin.delete_acls(stale)
    deadline = time.monotonic() + timeout_s
    while {_key(acl) for acl in granted(admin, client)} != set(wanted):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the ACLs of {user_name(client)} did not apply in {timeout_s:g} s")
        time.sleep(0.1)


def _filter(acl: ACL) -> ACLFilter:
    pattern = acl.resource_pattern
    return ACLFilter(
        acl.principal,
        acl.host,
        acl.operation,
        acl.permission_type,
        ResourcePatternFilter(pattern.resource_type, pattern.resource_name, pattern.pattern_type),
    )


def set_password(
    admin: KafkaAdminClient, user: str, password: str, mechanism: str, *, timeout_s: float = 30.0
) -> None:
    """Create `user` (or reset its password) for SCRAM `mechanism`; returns once the brokers
    report the credential."""
    errors = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, mechanism, password)]
    )
    if errors.get(user):
        raise RuntimeError(f"setting the SCRAM credential of {user} failed: {errors[user]}")
    deadline = time.monotonic() + timeout_s
    while not _has_credential(admin, user):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the SCRAM credential of {user} did not apply in {timeout_s:g} s")
        time.sleep(0.1)


def _has_credential(admin: KafkaAdminClient, user: str) -> bool:
    found = admin.describe_user_scram_credentials([user]).get(user) or {}
    return not found.get("error") and bool(found.get("credential_infos"))


def password_in(directory: Path, user: str) -> str:
    """The password kept for `user` in `directory`, made (random, 48 hex digits) the first time."""
    path = directory / f"{user}.password"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(24) + "\n")
    return path.read_text().strip()


def client_settings(settings: ServiceSettings, user: str, password: str) -> dict[str, str]:
    """A client's settings: the super user's connection, with `user` and its password."""
    found = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "CAREPATH_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "CAREPATH_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "CAREPATH_KAFKA_USERNAME": user,
        "CAREPATH_KAFKA_PASSWORD": password,
    }
    if settings.kafka_ca_file is not None:
        found["CAREPATH_KAFKA_CA_FILE"] = str(settings.kafka_ca_file.resolve())
    return found


app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


@app.callback()
def main_options() -> None:
    """The registry's SCRAM users and ACLs on a secured Kafka."""


@app.command()
def apply(
    credentials_dir: Annotated[
        Path, typer.Option(help="Where each user's password and settings (.env) are kept.")
    ],
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the brokers.")] = 30,
) -> None:
    """Create every client's SCRAM user and make its ACLs those the registry gives."""
    settings = ServiceSettings(service_name="kafka-users")
    if not settings.kafka_security_protocol.startswith("SASL"):
        raise typer.BadParameter(
            "needs a SASL listener and its super user: set CAREPATH_KAFKA_SECURITY_PROTOCOL, "
            "_USERNAME, _PASSWORD (and _CA_FILE for SASL_SSL)"
        )
    credentials_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = {**client_config(settings), "bootstrap_timeout_ms": int(timeout * 1000)}
    with KafkaAdminClient(**config, client_id="carepath-kafka-users") as admin:
        for client in clients():
            user = user_name(client)
            password = password_in(credentials_dir, user)
            set_password(admin, user, password, settings.kafka_sasl_mechanism, timeout_s=timeout)
            apply_acls(admin, client, timeout_s=timeout)
            values = client_settings(settings, user, password)
            env = credentials_dir / f"{user}.env"
            env.touch(mode=0o600)
            env.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
            typer.echo(
                f"{user}: SCRAM user and {len(acl_bindings(client))} ACLs; settings in {env}"
            )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
