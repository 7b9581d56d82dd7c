"""Real servers for the status-service, notice and browser tests: spawn, wait, always kill.

Every process starts in its own process group and is killed with the group, so a test
that fails half-way leaves nothing running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_http(url: str, *, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    """Wait until ``url`` answers at all (any status); fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{url}: server exited with {proc.returncode}\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1.0)
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def kill_group(proc: subprocess.Popen[bytes], *, timeout: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)
    else:  # the leader is gone; make sure no child of its group lingers
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def server(argv: list[str], *, ready_url: str, log: Path, env: Mapping[str, str] | None = None,
           timeout: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` until the block ends; yields once ``ready_url`` answers."""
    full_env = {**os.environ, **(env or {})}
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(ready_url, timeout=timeout, proc=proc, log=log)
        yield proc
    finally:
        kill_group(proc)


def status_service_argv(*, port: int, db: Path, regions: Mapping[str, str] = {},
                        probe_interval: float = 0.25) -> list[str]:
    argv = [PYTHON, "-m", "runbooks.cli", "statuspage", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--db", str(db), "--probe-interval", str(probe_interval)]
    for name, url in regions.items():
        argv += ["--region", f"{name}={url}"]
    return argv


def ehr_argv(*, port: int) -> list[str]:
    """The EHR app under uvicorn (settings from ``CHARTGUARD_*`` in the environment)."""
    return [PYTHON, "-m", "uvicorn", "ehr_core.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]


class Postgres:
    """A running PostgreSQL primary: its spec, the app DSN, and stop/start for faults."""

    def __init__(self, spec: Any, state: Any) -> None:
        self.spec, self.state = spec, state

    @property
    def dsn(self) -> str:
        from infra.local import postgres as pg

        return pg.app_dsn(self.spec)

    def stop(self) -> None:
        from infra.local import postgres as pg

        pg.stop_server(self.state)

    def start(self) -> None:
        from infra.local import postgres as pg

        self.state = pg.start(self.spec)


@contextlib.contextmanager
def postgres_primary(name: str = "east") -> Iterator[Postgres]:
    """A real PostgreSQL primary (infra's manager) in a world-searchable temp dir,
    stopped and removed afterwards, pass or fail."""
    import shutil
    import tempfile

    from infra.local import postgres as pg

    workdir = Path(tempfile.mkdtemp(prefix="cg-status-"))
    workdir.chmod(0o755)
    spec = pg.PostgresSpec(
        name=name, role="primary", host="127.0.0.1", port=free_port(),
        data_dir=workdir / "pg", log_path=workdir / "pg.log", replication="async",
        app_password="app-password-1", replication_password="repl-password-1",
        superuser_password="super-password-1",
    )
    handle = None
    try:
        handle = Postgres(spec, pg.create(spec))
        yield handle
    finally:
        try:
            pg.destroy(handle.state if handle else None, spec.data_dir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def set_read_only(db: Postgres, on: bool) -> None:
    """Make the whole server refuse writes (or accept them again), as after a demotion."""
    from infra.local import postgres as pg

    with pg.connect(db.spec) as conn:
        if on:
            conn.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        else:
            conn.execute("ALTER SYSTEM RESET default_transaction_read_only")
        conn.execute("SELECT pg_reload_conf()")


@contextlib.contextmanager
def status_service(tmp_path: Path, *, token: str, regions: Mapping[str, str] = {},
                   probe_interval: float = 0.25,
                   env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The status service as its own process on a free port; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with server(status_service_argv(port=port, db=tmp_path / "status.db", regions=regions,
                                    probe_interval=probe_interval),
                ready_url=f"{url}/healthz", log=tmp_path / "status.log",
                env={"CHARTGUARD_STATUS_TOKEN": token,
                     "CHARTGUARD_STATUS_STATE_DIR": str(tmp_path / "state"), **(env or {})}):
        yield url
