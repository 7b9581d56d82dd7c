"""Fixtures for the load tests: a real EHR core (``chartguard ehr serve``) on SQLite, on a
free loopback port, seeded small; every process is killed (its whole group) in teardown."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

CHARTGUARD = [sys.executable, "-m", "runbooks.cli"]
REPO = Path(__file__).resolve().parents[2]

# Small enough for a shared 2-core machine, busy enough to see writes of every kind:
# 3 practices x (2 front desk + 2 clinicians + 1 owner) = 15 people, 8.2 requests/s (the
# EHR audits every read, so SQLite under twice that stalls on its write lock).
TEST_PROFILE = {
    "name": "test",
    "practices": 3,
    "people": {"front_desk": 2, "clinician": 2, "owner": 1},
    "seeded_people": {"front_desk": 2, "clinician": 1, "owner": 1},
    "actions_per_hour": {"front_desk": 1200, "clinician": 1200, "owner": 120},
    "monday_peak_factor": 2.0,
    # A bulk export holds SQLite's write lock for seconds (every request waits); on
    # PostgreSQL it does not. The tests judge the generator, not SQLite.
    "task_mix": {"owner": {"export": 0}},
    "thresholds": {
        # The machine is shared with other test suites: generous latency limits; the
        # slowed endpoint below is far beyond them.
        "max_error_rate": 0.05,
        "min_achieved_ratio": 0.95,
        "latency_ms": {
            "auth": {"p99_ms": 20000},
            "read": {"p99_ms": 1500},
            "write": {"p99_ms": 1500},
            "report": {"p99_ms": 10000},
        },
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kill_group(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    """Stop a process started with ``start_new_session`` and everything it started."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Workers may outlive a SIGKILLed master: sweep the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Ehr:
    url: str
    port: int
    db: Path
    process: subprocess.Popen[bytes]


class EhrFactory:
    """Starts EHR servers and remembers them for teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, db: Path, *, port: int | None = None, region: str = "east") -> Ehr:
        port = port or free_port()
        log = (self.workdir / f"ehr-{port}-{len(self.processes)}.log").open("ab")
        env = {**os.environ, "CHARTGUARD_REGION": region}
        process = subprocess.Popen(
            [*CHARTGUARD, "ehr", "serve", "--port", str(port), "--workers", "2",
             "--db", f"sqlite:///{db}"],
            cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"ehr serve exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    return Ehr(url=url, port=port, db=db, process=process)
            time.sleep(0.3)
        raise RuntimeError("ehr serve did not become ready in 90s")

    def close(self) -> None:
        for process in self.processes:
            kill_group(process)


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded SQLite template (copy it before serving: tests change their database)."""
    path = tmp_path_factory.mktemp("ehr-seed") / "template.db"
    subprocess.run(
        [*CHARTGUARD, "ehr", "seed", "--practices", "3", "--patients", "150",
         "--db", f"sqlite:///{path}"],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def ehr_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EhrFactory]:
    factory = EhrFactory(tmp_path_factory.mktemp("ehr"))
    try:
        yield factory
    finally:
        factory.close()


def copy_db(template: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, to)
    return to


@pytest.fixture(scope="session")
def test_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profile") / "test.yaml"
    path.write_text(yaml.safe_dump(TEST_PROFILE))
    return path


def start_load(args: list[str], *, cwd: Path, env: dict[str, str] | None = None):
    """``chartguard load ...`` as a process of its own (Locust patches its process)."""
    log = (cwd / f"load-{time.monotonic_ns()}.log").open("wb")
    process = subprocess.Popen(
        [*CHARTGUARD, "load", *args], cwd=cwd, env={**os.environ, **(env or {})},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    return process


def finish(process: subprocess.Popen[bytes], timeout: float = 150) -> int:
    try:
        return process.wait(timeout)
    finally:
        kill_group(process, sig=signal.SIGKILL)
