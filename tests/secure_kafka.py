"""The secured local broker (KAFKA_SECURITY=sasl_ssl infra/kafka/kafka.sh) on free ports, with
fresh storage: a SASL_SSL listener (SCRAM-SHA-512), the standard authorizer, and a SCRAM user and
ACLs per CarePath client from the topic registry."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from carepath.chassis.settings import ServiceSettings
from support import ROOT, free_port

SCRIPT = ROOT / "infra" / "kafka" / "kafka.sh"


@dataclass
class SecureKafka:
    """The running secured broker, and the settings of each of its users."""

    data_dir: Path
    port: int
    env: dict[str, str] = field(repr=False)

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The local CA that signed the broker's certificate."""
        return self.data_dir / "tls" / "ca.crt"

    def client_env(self, user: str) -> dict[str, str]:
        """The settings kafka.sh wrote for `user` (`admin`, `carepath-<service>`,
        `carepath-auditor`): KAFKA_BOOTSTRAP_SERVERS and CAREPATH_KAFKA_*."""
        path = self.data_dir / "credentials" / f"{user}.env"
        lines = path.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def settings(self, user: str) -> ServiceSettings:
        """ServiceSettings connecting as `user` (the chassis' one client configuration)."""
        env = self.client_env(user)
        return ServiceSettings(
            service_name="test",
            kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            kafka_security_protocol=env["CAREPATH_KAFKA_SECURITY_PROTOCOL"],
            kafka_sasl_mechanism=env["CAREPATH_KAFKA_SASL_MECHANISM"],
            kafka_username=env["CAREPATH_KAFKA_USERNAME"],
            kafka_password=env["CAREPATH_KAFKA_PASSWORD"],
            kafka_ca_file=Path(env["CAREPATH_KAFKA_CA_FILE"]),
        )


@contextmanager
def secure_local_kafka(data_dir: Path) -> Iterator[SecureKafka]:
    """Start the secured single broker in `data_dir` (removed first); stop it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_SECURITY": "sasl_ssl",
        "KAFKA_PORT": str(port),
        "CONTROLLER_PORT": str(free_port()),
        "KAFKA_DATA_DIR": str(data_dir),
        "KAFKA_PYTHON": sys.executable,  # applies the registry's users and ACLs
    }
    subprocess.run([SCRIPT, "stop"], env=env, check=False, capture_output=True)
    shutil.rmtree(data_dir, ignore_errors=True)
    try:
        started = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True)
        assert started.returncode == 0, (
            f"the secured broker did not start:\n{started.stderr[-3000:]}"
        )
        yield SecureKafka(data_dir, port, env)
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, check=False, capture_output=True)
