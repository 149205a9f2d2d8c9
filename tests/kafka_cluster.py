"""A local Kafka cluster of several KRaft nodes (infra/kafka/kafka.sh, KAFKA_BROKERS=N) on free
ports, with fresh storage: for tests that crash and restart brokers."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from support import ROOT, free_port

SCRIPT = ROOT / "infra" / "kafka" / "kafka.sh"


@dataclass
class KafkaCluster:
    """The running cluster: node ids 1..N, each broker and controller (an N-voter quorum)."""

    data_dir: Path
    ports: dict[int, int]  # node id -> client port
    env: dict[str, str] = field(repr=False)

    @property
    def node_ids(self) -> list[int]:
        return sorted(self.ports)

    @property
    def bootstrap(self) -> str:
        """Every node, comma separated."""
        return ",".join(f"localhost:{self.ports[node]}" for node in self.node_ids)

    def log_of(self, node_id: int) -> Path:
        return self.data_dir / f"node-{node_id}" / "logs" / "server.log"

    def kill(self, node_id: int) -> None:
        """SIGKILL the node, as a crash would; returns once the process is gone."""
        self._script("kill-node", str(node_id))

    def start(self, node_id: int) -> None:
        """Start the node again on its existing data; returns once it is ready."""
        self._script("start-node", str(node_id))

    def pid(self, node_id: int) -> int | None:
        """The node's process id, None when it is not running."""
        result = self._script("pid", str(node_id), check=False)
        return int(result.stdout) if result.returncode == 0 else None

    def partition(self, topic: str, partition: int) -> dict[str, Any]:
        """The partition's metadata as the cluster reports it now: `leader_id` (-1 without a
        leader), `replica_nodes`, `isr_nodes`, ..."""
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id="test-cluster-admin",
            request_timeout_ms=5000,
        )
        try:
            (described,) = admin.describe_topics([topic])
        finally:
            admin.close()
        for entry in described["partitions"]:
            if entry["partition_index"] == partition:
                return dict(entry)
        raise LookupError(f"{topic} has no partition {partition}: {described}")

    def leader_of(self, topic: str, partition: int) -> int | None:
        """The node id leading the partition, None while it has no leader."""
        leader = int(self.partition(topic, partition)["leader_id"])
        return leader if leader >= 0 else None

    def in_sync_replicas(self, topic: str, partition: int) -> set[int]:
        return set(self.partition(topic, partition)["isr_nodes"])

    def _script(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], env=self.env, check=check, capture_output=not check, text=True
        )


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


@contextmanager
def local_kafka_cluster(data_dir: Path, brokers: int = 3) -> Iterator[KafkaCluster]:
    """Start `brokers` nodes of infra/kafka on free ports with fresh storage in `data_dir`
    (node ID in `data_dir/node-ID`); stop every node at exit."""
    ports = _distinct_free_ports(2 * brokers)
    client_ports, controller_ports = ports[:brokers], ports[brokers:]
    env = {
        **os.environ,
        "KAFKA_BROKERS": str(brokers),
        "KAFKA_PORTS": ",".join(map(str, client_ports)),
        "CONTROLLER_PORTS": ",".join(map(str, controller_ports)),
        "KAFKA_DATA_DIR": str(data_dir),
    }
    subprocess.run([SCRIPT, "stop"], env=env, check=True)  # left over from an interrupted run
    shutil.rmtree(data_dir, ignore_errors=True)
    cluster = KafkaCluster(data_dir=data_dir, ports=dict(enumerate(client_ports, start=1)), env=env)
    try:
        subprocess.run([SCRIPT, "start"], env=env, check=True)
        yield cluster
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, check=False)
