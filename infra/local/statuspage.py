"""The status service of the local stack: ``chartguard statuspage serve`` in its own process.

It must not share fate with the EHR regions, so it is a separate server, started by
command like the EHR (infra never imports the monitoring package). It keeps incidents
in its own SQLite file (``.state/<stack>/status/status.db``), probes the regions listed
in ``.state/<stack>/deployment.json`` (re-read whenever ``up`` rewrites it), reads the
SLO panel from Prometheus and receives Alertmanager's webhook. Its SRE token reaches it
through ``CHARTGUARD_STATUS_TOKEN``, never the command line; the documented local
default (:data:`LOCAL_DEFAULT_STATUS_TOKEN`) is accepted for the ``local`` stack only.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.errors import InvalidSpecError
from infra.local.httpcheck import http_ok, serving
from infra.local.process import (
    ServerState,
    ensure_loopback,
    ensure_port_free,
    start_server,
    stop,
)
from infra.local.settings import LocalSettings

__all__ = [
    "LOCAL_DEFAULT_STATUS_TOKEN",
    "LOCAL_STACK",
    "StatusServiceSpec",
    "resolve_token",
    "StatusServiceState",
    "start",
    "stop_server",
    "destroy",
    "reconfigure",
    "status",
]

LOCAL_STACK = "local"
#: Documented SRE token of the ``local`` stack (loopback, synthetic data); the status
#: service and the runbooks use the same default. Every other stack sets its own.
LOCAL_DEFAULT_STATUS_TOKEN = "changeme-local-status-token"  # noqa: S105 - documented default
MIN_TOKEN_LENGTH = 24


def resolve_token(stack: str, configured: str | None) -> str:
    """The SRE token for ``stack``: the configured one, or the local default.

    Like the secrets passphrase (``infra.settings``): the documented default serves the
    ``local`` stack only; any other stack must configure a private token of at least
    :data:`MIN_TOKEN_LENGTH` characters, or :class:`InvalidSpecError` names the key.
    """
    if stack == LOCAL_STACK:
        return configured or LOCAL_DEFAULT_STATUS_TOKEN
    if not configured:
        raise InvalidSpecError(
            f"stack {stack!r}: set chartguard:statusToken (pulumi config set --secret); "
            f"the default token is only for the {LOCAL_STACK!r} stack"
        )
    if configured == LOCAL_DEFAULT_STATUS_TOKEN:
        raise InvalidSpecError(
            f"stack {stack!r}: chartguard:statusToken is the documented local default; "
            f"choose a private one for any stack but {LOCAL_STACK!r}"
        )
    if len(configured) < MIN_TOKEN_LENGTH:
        raise InvalidSpecError(
            f"stack {stack!r}: chartguard:statusToken must be at least {MIN_TOKEN_LENGTH} "
            "characters"
        )
    return configured


@dataclass(frozen=True, kw_only=True)
class StatusServiceSpec:
    """The status service of stack ``stack`` (state under ``state_dir/stack``)."""

    stack: str
    state_dir: Path
    work_dir: Path
    """Its own folder: the SQLite file lives here; removed by :func:`destroy`."""
    log_path: Path
    host: str = "127.0.0.1"
    port: int = 8090
    prometheus_url: str | None = None
    token: str = field(default=LOCAL_DEFAULT_STATUS_TOKEN, repr=False)
    probe_interval: float = 2.0
    chartguard_bin: Path = field(default_factory=lambda: LocalSettings().chartguard_bin)

    def __post_init__(self) -> None:
        ensure_loopback(self.host, what="status service")
        if not 1 <= self.port <= 65535:
            raise InvalidSpecError(f"status service: port {self.port} out of range")
        if self.prometheus_url is not None:
            if not self.prometheus_url.startswith("http://"):
                raise InvalidSpecError("status service: prometheus_url must be an http:// URL")
            host = self.prometheus_url.removeprefix("http://").rpartition(":")[0]
            ensure_loopback(host, what="status service prometheus_url")
        if not 0.2 <= self.probe_interval <= 60:
            raise InvalidSpecError("status service: probe_interval must be 0.2..60 seconds")
        if not self.token:
            raise InvalidSpecError("status service: chartguard:statusToken is empty")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.work_dir / "status.db"

    def argv(self) -> list[str]:
        argv = [str(self.chartguard_bin), "statuspage", "serve", "--host", self.host,
                "--port", str(self.port), "--db", str(self.db_path), "--stack", self.stack,
                "--probe-interval", f"{self.probe_interval:g}"]
        if self.prometheus_url:
            argv += ["--prometheus-url", self.prometheus_url]
        return argv

    def env(self) -> dict[str, str]:
        return {
            "CHARTGUARD_STATUS_TOKEN": self.token,
            # Where it finds <stack>/deployment.json: the regions it probes.
            "CHARTGUARD_STATUS_STATE_DIR": str(self.state_dir),
            "CHARTGUARD_STATUS_ENVIRONMENT": "local",
        }


class StatusServiceState(ServerState):
    """The running status service."""


def start(spec: StatusServiceSpec, *, timeout: float = 60.0) -> StatusServiceState:
    """Start the service in its own process group and wait for ``/healthz``."""
    ensure_port_free(spec.host, spec.port, what="status service", grace=5.0)
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    handle = start_server(
        spec.argv(), what="status service", log_path=spec.log_path, env=spec.env(),
        cwd=spec.work_dir, ready=lambda _: http_ok(f"{spec.url}/healthz"), timeout=timeout,
        interval=0.2, quote_log=False,
    )
    return StatusServiceState(process=handle)


def stop_server(state: StatusServiceState) -> None:
    stop(state.process, sig=signal.SIGTERM, timeout=10)


def destroy(state: StatusServiceState | None, spec: StatusServiceSpec) -> None:
    """Stop the service and remove its folder (the incident database with it)."""
    if state is not None:
        stop_server(state)
    shutil.rmtree(spec.work_dir, ignore_errors=True)


def reconfigure(old: StatusServiceSpec, new: StatusServiceSpec,
                state: StatusServiceState) -> StatusServiceState:
    """Apply ``new`` by restarting (its options are fixed at start; its database stays)."""
    if old.work_dir != new.work_dir:
        raise InvalidSpecError("status service: work_dir cannot change in place")
    stop_server(state)
    return start(new)


def status(spec: StatusServiceSpec, state: StatusServiceState) -> bool:
    """True if the process runs and answers ``/healthz``."""
    return serving(state.process, f"{spec.url}/healthz", timeout=2.0)
