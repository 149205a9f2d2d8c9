"""Fixtures of the fault suite: a broker of its own (which a trial may kill), and the table of
results printed at the end of the run."""

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from system import ClinicSystem, TrialResult

from carepath.chassis.kafka import ensure_topics
from carepath.contracts import ALL_TOPICS
from carepath.contracts.topics import dead_letter_topics
from support import ROOT, free_port, wait_until

SCRIPT = ROOT / "infra" / "kafka" / "kafka.sh"
RESULTS: list[TrialResult] = []


class KillableBroker:
    """The local single-node broker on free ports, which a trial can kill -9 and start again."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "CONTROLLER_PORT": str(free_port()),
            "KAFKA_DATA_DIR": str(data_dir),
        }
        self.bootstrap = f"localhost:{self.port}"

    def start(self) -> None:
        subprocess.run([SCRIPT, "start"], env=self.env, check=True, capture_output=True)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would; returns once the process is gone."""
        pid = int((self.data_dir / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not running(pid), timeout=30, what="the killed broker to be gone")

    def stop(self) -> None:
        subprocess.run([SCRIPT, "stop"], env=self.env, check=False, capture_output=True)


def running(pid: int) -> bool:
    """True while `pid` runs (a zombie, killed but not yet reaped, does not run)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture(scope="module")
def fault_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KillableBroker]:
    """A broker of the trial's own, with every topic created."""
    broker = KillableBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        ensure_topics(broker.bootstrap, ALL_TOPICS + dead_letter_topics())
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def clinic(
    fault_broker: KillableBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClinicSystem]:
    """The whole system, every service a process of its own, on the module's broker."""
    system = ClinicSystem(tmp_path_factory.mktemp("clinic"), fault_broker.bootstrap).start()
    yield system
    system.stop()


@pytest.fixture(scope="session")
def fault_results() -> list[TrialResult]:
    """Where each trial puts its row."""
    return RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault trials")
    header = (
        f"{'trial':<56} {'events':>7} {'lost':>5} {'doubled':>8} {'redelivered':>12} "
        f"{'findings':>9} "
        f"{'recovery s':>11} {'journeys':>9} {'interrupted':>12}"
    )
    write(header)
    for r in RESULTS:
        write(
            f"{r.trial:<56} {r.events:>7} {r.lost:>5} {r.doubled:>8} {r.redelivered:>12} "
            f"{r.findings:>9} "
            f"{r.recovery_s:>11.1f} {r.journeys:>9} {r.interrupted:>12}"
        )
