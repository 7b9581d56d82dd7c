"""The EHR core of one region: ``chartguard ehr serve`` (gunicorn + uvicorn workers).

Each region's EHR reaches its database through the region's ``db-<region>`` link and
runs in a private working folder (``.state/<stack>/ehr-<region>/``), where its metrics
files, audit spool and exports live. Schema migrations run on the primary only, as an
explicit ``chartguard ehr migrate`` before the server starts; a standby region's EHR
finds the schema already replicated and serves read-only.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infra.local.errors import CommandError, InvalidSpecError, StartError
from infra.local.httpcheck import http_ok
from infra.local.process import (
    ServerState,
    child_env,
    ensure_loopback,
    ensure_port_free,
    is_running,
    start_server,
    stop,
)
from infra.local.settings import LocalSettings

__all__ = ["EhrSpec", "EhrState", "EhrStatus", "migrate", "start", "stop_server", "destroy",
           "status", "reconfigure"]

_REGION = re.compile(r"^[a-z][a-z0-9]{0,15}$")


@dataclass(frozen=True, kw_only=True)
class EhrSpec:
    """One region's EHR server."""

    region: str
    role: Literal["primary", "standby"]
    host: str
    port: int
    workers: int
    db_url: str = field(repr=False)
    work_dir: Path
    log_path: Path
    chartguard_bin: Path = field(default_factory=lambda: LocalSettings().chartguard_bin)
    status_url: str | None = None

    def __post_init__(self) -> None:
        what = f"ehr {self.region!r}"
        if not _REGION.match(self.region):
            raise InvalidSpecError(f"{what}: region must be a short lowercase name")
        if self.role not in ("primary", "standby"):
            raise InvalidSpecError(f"{what}: role must be 'primary' or 'standby'")
        ensure_loopback(self.host, what=what)
        if not 1 <= self.workers <= 64:
            raise InvalidSpecError(f"{what}: workers must be between 1 and 64")
        if not self.db_url.startswith("postgresql://"):
            raise InvalidSpecError(f"{what}: db_url must be a postgresql:// URL")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            "CHARTGUARD_REGION": self.region,
            "CHARTGUARD_DB_URL": self.db_url,
            "CHARTGUARD_AUDIT_SPOOL_PATH": str(self.work_dir / "audit-spool.jsonl"),
            "CHARTGUARD_EXPORT_DIR": str(self.work_dir / "exports"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.work_dir / "prometheus_multiproc"),
        }
        if self.status_url:
            env["CHARTGUARD_STATUS_URL"] = self.status_url
        return env


class EhrState(ServerState):
    """The running EHR server (gunicorn master; workers in its group)."""


@dataclass(frozen=True)
class EhrStatus:
    running: bool
    healthy: bool
    ready: bool


def migrate(spec: EhrSpec, *, timeout: float = 120.0) -> None:
    """Run ``chartguard ehr migrate`` against the region's database (primary only)."""
    if spec.role != "primary":
        raise InvalidSpecError(f"ehr {spec.region!r}: migrations run on the primary only")
    try:
        result = subprocess.run(  # noqa: S603 - fixed entry point, validated spec
            [str(spec.chartguard_bin), "ehr", "migrate", "--db", spec.db_url],
            capture_output=True, text=True, timeout=timeout, check=False,
            env=child_env(spec.env()), cwd=spec.work_dir,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CommandError(f"ehr {spec.region!r}: migrate failed: {e}") from e
    if result.returncode != 0:
        # The EHR's own errors never carry the DSN's password or row data.
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-4:])
        raise CommandError(f"ehr {spec.region!r}: migrate exited {result.returncode}: {tail}")


def start(spec: EhrSpec, *, timeout: float = 120.0) -> EhrState:
    """Migrate (primary), start the server in its own process group, wait for ``/healthz``."""
    ensure_port_free(spec.host, spec.port, what=f"ehr {spec.region!r}", grace=10.0)
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    if spec.role == "primary":
        migrate(spec)
    try:
        # The log is not quoted into errors: an application log may hold PHI.
        handle = start_server(
            [spec.chartguard_bin, "ehr", "serve", "--host", spec.host, "--port",
             str(spec.port), "--workers", str(spec.workers), "--region", spec.region,
             "--db", spec.db_url],
            what=f"ehr {spec.region!r}", log_path=spec.log_path, env=spec.env(),
            cwd=spec.work_dir, ready=lambda _: http_ok(f"{spec.url}/healthz"),
            timeout=timeout, interval=0.25, stop_timeout=15, quote_log=False,
        )
    except StartError as e:
        raise StartError(f"{e}; see {spec.log_path}") from e
    return EhrState(process=handle)


def stop_server(state: EhrState) -> None:
    """Graceful stop (gunicorn finishes in-flight requests), then the whole group."""
    stop(state.process, sig=signal.SIGTERM, timeout=20)


def destroy(state: EhrState | None, spec: EhrSpec) -> None:
    """Stop the server and remove its working folder (metrics files, spool, exports)."""
    if state is not None:
        stop_server(state)
    shutil.rmtree(spec.work_dir, ignore_errors=True)


def reconfigure(old: EhrSpec, new: EhrSpec, state: EhrState) -> EhrState:
    """Apply ``new`` by restarting the server (its options are fixed at start)."""
    if old.work_dir != new.work_dir:
        raise InvalidSpecError(f"ehr {new.region!r}: work_dir cannot change in place")
    stop_server(state)
    return start(new)


def status(spec: EhrSpec, state: EhrState) -> EhrStatus:
    if not is_running(state.process):
        return EhrStatus(running=False, healthy=False, ready=False)
    return EhrStatus(
        running=True,
        healthy=http_ok(f"{spec.url}/healthz", timeout=2.0),
        ready=http_ok(f"{spec.url}/readyz", timeout=2.0),
    )
