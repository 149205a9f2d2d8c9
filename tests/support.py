"""Helpers for tests that cross a process boundary: ports, waiting on conditions, Kafka reads."""

import asyncio
import base64
import inspect
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

if TYPE_CHECKING:
    from carepath.chassis.auth import Role
    from carepath.chassis.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
# Where a test run keeps its broker, database and keys; another folder (CAREPATH_TEST_VAR) lets two
# runs share a machine without stopping each other's broker.
TEST_VAR = Path(os.environ.get("CAREPATH_TEST_VAR") or ROOT / "var" / "test")
ISSUER_DIR = TEST_VAR / "dev-issuer"  # the identity provider of the services under test
T = TypeVar("T")


def uv() -> str:
    """The uv executable, which need not be on PATH: `$UV` (the Makefile exports it and `uv run`
    sets it), else `uv` on PATH, else ~/.local/bin/uv (where `make setup` installs it)."""
    candidates = (os.environ.get("UV"), shutil.which("uv"), Path.home() / ".local" / "bin" / "uv")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(Path(candidate).absolute())
    pytest.fail("uv not found ($UV, PATH, ~/.local/bin/uv): run `make setup`")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.1
) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


async def eventually(
    check: Callable[[], T | Awaitable[T | None] | None],
    *,
    within: float,
    what: str,
    every: float = 0.05,
) -> T:
    """`wait_until` for async tests: polls `check` (a plain or an async function) without
    blocking the event loop (which runs the consumers and heartbeats under test)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


def docker_engine_answers() -> bool:
    """True when a Docker engine (not just the client) is reachable, so testcontainers can run."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False


@contextmanager
def local_kafka(data_dir: Path) -> Iterator[str]:
    """The broker of infra/kafka on free ports, with fresh storage; yields its bootstrap address."""
    port, controller_port = free_port(), free_port()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "CONTROLLER_PORT": str(controller_port),
        "KAFKA_DATA_DIR": str(data_dir),
    }
    script = ROOT / "infra" / "kafka" / "kafka.sh"
    subprocess.run([script, "stop"], env=env, check=True)
    subprocess.run(["rm", "-rf", str(data_dir)], check=True)
    subprocess.run([script, "start"], env=env, check=True)
    try:
        yield f"localhost:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False)


def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    """The next offset of every partition of `topic`."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


def read_records(
    bootstrap: str,
    start: dict[TopicPartition, int],
    *,
    until: Callable[[list[ConsumerRecord]], bool],
    timeout: float = 30.0,
) -> list[ConsumerRecord]:
    """Read from `start` offsets until `until(records so far)` holds; fails after `timeout`."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(start))
    for partition, offset in start.items():
        consumer.seek(partition, offset)
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(records):
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s; read {len(records)} records")
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def read_to_end(
    bootstrap: str, start: dict[TopicPartition, int], timeout: float = 30.0
) -> list[ConsumerRecord]:
    """Every record from `start` up to the end offsets as they are now."""
    topic = next(iter(start)).topic
    end = end_offsets(bootstrap, topic)
    expected = sum(end[tp] - start.get(tp, 0) for tp in end)
    return read_records(
        bootstrap, start, until=lambda records: len(records) >= expected, timeout=timeout
    )


class ServiceProcess:
    """A CarePath service run as its own process (uvicorn), as in production."""

    def __init__(self, name: str, app: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self._app = app
        self._env = {**os.environ, **env, "CAREPATH_HTTP_PORT": str(self.port)}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> "ServiceProcess":
        """Start it and wait until it takes commands (`/readyz` 200: its database answers) and
        has reached Kafka (`/healthz`); its consumers then join their groups on their own."""
        import httpx

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")  # a restarted service's log follows its first run
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                self._app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

        def ready() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
                kafka = httpx.get(f"{self.url}/healthz", timeout=2).json().get("kafka")
            except httpx.HTTPError:
                return False
            return ready and kafka == "ok"

        wait_until(
            ready,
            timeout=timeout,
            what=f"{self.name} to be ready (log: {self.log_path})",
            every=0.2,
        )
        return self

    def kill(self) -> None:
        """Kill it outright (SIGKILL), as a crash or an OOM kill would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        """Stop it gracefully (SIGTERM), as Kubernetes would."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def issuer_settings(name: str = "test") -> "ServiceSettings":
    """Settings whose dev issuer is the one the services under test trust (for `issue_token`,
    and for the seed's `Tokens`)."""
    from carepath.chassis.settings import ServiceSettings

    return ServiceSettings(service_name=name, dev_issuer_dir=ISSUER_DIR)


def token(role: "Role", user: str = "test-user") -> dict[str, str]:
    """An Authorization header the services under test accept."""
    from carepath.chassis.auth import issue_token

    return {"Authorization": f"Bearer {issue_token(issuer_settings(), role, user)}"}


_issuer: tuple[subprocess.Popen[bytes], dict[str, str]] | None = None


def identity_env() -> dict[str, str]:
    """The identity provider settings of a service under test (and the key service's KEK, the
    other secret a service refuses to start without): the dev issuer served over HTTP
    (`carepath-issuer serve`, started once per test run), so the services take the production
    path: tokens checked through the provider's JWKS URL, and their own tokens for the key
    service from its token endpoint (client credentials)."""
    global _issuer
    if _issuer is None or _issuer[0].poll() is not None:
        import atexit

        import httpx

        from carepath.chassis.dev_issuer import DevIssuer

        issuer = DevIssuer(ISSUER_DIR).ensure()
        port = free_port()
        log = (TEST_VAR / "dev-issuer.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "carepath.chassis.issuer_cli", "serve", "--port", str(port)],
            env={**os.environ, "CAREPATH_DEV_ISSUER_DIR": str(ISSUER_DIR)},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        atexit.register(process.terminate)
        url = f"http://127.0.0.1:{port}"

        def serving() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the dev issuer exited: {TEST_VAR / 'dev-issuer.log'}")
            try:
                return httpx.get(f"{url}/jwks.json", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(serving, timeout=30, what="the dev issuer to serve its JWKS", every=0.1)
        env = {
            # Not identity, but what the key service needs outside dev mode as well: a KEK.
            "CAREPATH_KEK": base64.b64encode(os.urandom(32)).decode(),
            "CAREPATH_OIDC_JWKS_URL": f"{url}/jwks.json",
            "CAREPATH_OIDC_TOKEN_URL": f"{url}/token",
            "CAREPATH_OIDC_CLIENT_SECRET": issuer.client_secret(),
        }
        _issuer = (process, env)
    return _issuer[1]
