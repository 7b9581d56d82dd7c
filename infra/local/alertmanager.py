"""Alertmanager for the local stack.

Its configuration file belongs to the monitoring package (receivers, routes); until
that package writes one, :func:`start` puts a default there whose only receiver is a
webhook to the status service (``/api/v1/alerts/webhook``, docs/interfaces.md). An
existing file is never overwritten. Gossip is off (``--cluster.listen-address=``): a
single instance on loopback needs no cluster port.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.local.errors import InvalidSpecError
from infra.local.httpcheck import http_ok, http_post, serving
from infra.local.process import (
    ServerState,
    ensure_loopback,
    ensure_port_free,
    is_running,
    start_server,
    stop,
)

__all__ = [
    "AlertmanagerSpec",
    "AlertmanagerState",
    "default_config",
    "start",
    "reload_config",
    "reconfigure",
    "stop_server",
    "destroy",
    "status",
]


@dataclass(frozen=True, kw_only=True)
class AlertmanagerSpec:
    config_path: Path
    data_dir: Path
    log_path: Path
    webhook_url: str = "http://127.0.0.1:8090/api/v1/alerts/webhook"
    host: str = "127.0.0.1"
    port: int = 9093
    binary: Path = Path("/usr/bin/prometheus-alertmanager")

    def __post_init__(self) -> None:
        ensure_loopback(self.host, what="alertmanager")
        if not self.webhook_url.startswith("http://127."):
            raise InvalidSpecError(
                f"alertmanager: webhook {self.webhook_url!r} must be an http URL on loopback"
            )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class AlertmanagerState(ServerState):
    """The running Alertmanager."""


def default_config(spec: AlertmanagerSpec) -> str:
    """The starter alertmanager.yml: everything to the status service's webhook."""
    config = {
        "route": {
            "receiver": "status-service",
            "group_by": ["alertname", "region"],
            "group_wait": "5s",
            "group_interval": "30s",
            "repeat_interval": "4h",
        },
        "receivers": [
            {
                "name": "status-service",
                "webhook_configs": [{"url": spec.webhook_url, "send_resolved": True}],
            }
        ],
    }
    header = (
        "# Default written by chartguard (infra.local.alertmanager) because none existed;\n"
        "# the monitoring package may replace this file, then POST /-/reload.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def start(spec: AlertmanagerSpec, *, timeout: float = 30.0) -> AlertmanagerState:
    """Start Alertmanager (writing the default config if there is none) and wait for ready."""
    ensure_port_free(spec.host, spec.port, what="alertmanager")
    if not spec.config_path.exists():
        spec.config_path.parent.mkdir(parents=True, exist_ok=True)
        spec.config_path.write_text(default_config(spec))
    spec.data_dir.mkdir(parents=True, exist_ok=True)
    handle = start_server(
        [
            spec.binary,
            f"--config.file={spec.config_path}",
            f"--storage.path={spec.data_dir}",
            f"--web.listen-address={spec.host}:{spec.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        what="alertmanager", log_path=spec.log_path,
        ready=lambda _: http_ok(f"{spec.url}/-/ready"), timeout=timeout, interval=0.2,
    )
    return AlertmanagerState(process=handle)


def reload_config(spec: AlertmanagerSpec) -> None:
    """Make a running Alertmanager re-read its config file."""
    http_post(f"{spec.url}/-/reload", what="alertmanager")


def reconfigure(old: AlertmanagerSpec, new: AlertmanagerSpec,
                state: AlertmanagerState) -> AlertmanagerState:
    """Apply ``new``: reload if only the config may have changed, else restart."""
    if old == new and is_running(state.process):
        reload_config(new)
        return state
    stop_server(state)
    return start(new)


def stop_server(state: AlertmanagerState) -> None:
    stop(state.process, sig=signal.SIGTERM, timeout=10)


def destroy(state: AlertmanagerState | None, spec: AlertmanagerSpec) -> None:
    """Stop Alertmanager and remove its silences/notification log (the config stays)."""
    if state is not None:
        stop_server(state)
    shutil.rmtree(spec.data_dir, ignore_errors=True)


def status(spec: AlertmanagerSpec, state: AlertmanagerState) -> bool:
    return serving(state.process, f"{spec.url}/-/ready")
