"""Prometheus for the local stack: scrape configs generated from the topology.

The configuration names every scrape job with its static targets (router exporter,
each region's EHR ``/metrics`` labelled with its region, Toxiproxy, Alertmanager and
Prometheus itself), loads every rule file matching ``<rules_dir>/*.yml`` (the
monitoring package writes them there) and sends alerts to Alertmanager. Processes that
come and go (a chaos run's fault gauge) are found by file discovery: a job named in
``discovered_jobs`` scrapes every target listed in ``<discovery_dir>/<job>-*.json``
(Prometheus's ``file_sd`` format), which such a process writes while it runs. Changes are
validated with ``promtool`` first, then applied by ``POST /-/reload``
(``--web.enable-lifecycle``), so a rejected config changes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from infra.local.errors import CommandError, InvalidSpecError
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
    "ScrapeJob",
    "PrometheusSpec",
    "PrometheusState",
    "render_config",
    "start",
    "reconfigure",
    "stop_server",
    "destroy",
    "status",
]

_JOB = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True, kw_only=True)
class ScrapeJob:
    """One scrape job: ``targets`` are ``host:port``; ``labels`` per target (optional)."""

    name: str
    targets: tuple[str, ...]
    metrics_path: str = "/metrics"
    labels: tuple[tuple[str, str], ...] = ()
    """``(target, region)`` pairs: the region label of each target that has one."""

    def __post_init__(self) -> None:
        if not _JOB.match(self.name):
            raise InvalidSpecError(f"scrape job {self.name!r}: not a valid job name")
        for target in self.targets:
            host, _, port = target.rpartition(":")
            ensure_loopback(host, what=f"scrape job {self.name!r} target")
            if not port.isdigit():
                raise InvalidSpecError(f"scrape job {self.name!r}: bad target {target!r}")


@dataclass(frozen=True, kw_only=True)
class PrometheusSpec:
    """Where Prometheus listens, what it scrapes and where it keeps its files."""

    config_path: Path
    data_dir: Path
    rules_dir: Path
    log_path: Path
    jobs: tuple[ScrapeJob, ...]
    alertmanagers: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 9090
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    retention: str = "7d"
    binary: Path = Path("/usr/bin/prometheus")
    promtool: Path = Path("/usr/bin/promtool")
    extra_args: tuple[str, ...] = field(default=())
    discovery_dir: Path | None = None
    discovered_jobs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        ensure_loopback(self.host, what="prometheus")
        names = [j.name for j in self.jobs] + list(self.discovered_jobs)
        if self.discovered_jobs and self.discovery_dir is None:
            raise InvalidSpecError("prometheus: discovered_jobs need a discovery_dir")
        for name in self.discovered_jobs:
            if not _JOB.match(name):
                raise InvalidSpecError(f"prometheus: {name!r} is not a valid job name")
        if len(set(names)) != len(names):
            raise InvalidSpecError(f"prometheus: duplicate scrape job names in {names}")
        for target in self.alertmanagers:
            ensure_loopback(target.rpartition(":")[0], what="prometheus alertmanager")
        for label, value in (("scrape_interval", self.scrape_interval),
                             ("evaluation_interval", self.evaluation_interval),
                             ("retention", self.retention)):
            if not re.match(r"^\d+(ms|s|m|h|d)$", value):
                raise InvalidSpecError(f"prometheus: {label} {value!r} is not a duration")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class PrometheusState(ServerState):
    """The running Prometheus server."""


def render_config(spec: PrometheusSpec) -> str:
    """prometheus.yml for ``spec``."""
    scrape_configs: list[dict[str, object]] = []
    for job in spec.jobs:
        region_of = dict(job.labels)
        groups = [
            {"targets": [t], "labels": {"region": region_of[t]}} if t in region_of
            else {"targets": [t]}
            for t in job.targets
        ]
        scrape_configs.append(
            {"job_name": job.name, "metrics_path": job.metrics_path, "static_configs": groups}
        )
    for name in spec.discovered_jobs:
        assert spec.discovery_dir is not None  # checked by the spec
        scrape_configs.append({
            "job_name": name,
            "file_sd_configs": [
                {"files": [str(spec.discovery_dir / f"{name}-*.json")], "refresh_interval": "5s"}
            ],
        })  # fmt: skip
    config: dict[str, object] = {
        "global": {
            "scrape_interval": spec.scrape_interval,
            "evaluation_interval": spec.evaluation_interval,
        },
        "rule_files": [str(spec.rules_dir / "*.yml")],
        "scrape_configs": scrape_configs,
    }
    if spec.alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(spec.alertmanagers)}]}]
        }
    header = "# Written by chartguard (infra.local.prometheus); rewritten on every reconfigure.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def _write_checked(spec: PrometheusSpec) -> None:
    spec.config_path.parent.mkdir(parents=True, exist_ok=True)
    spec.rules_dir.mkdir(parents=True, exist_ok=True)
    if spec.discovery_dir is not None:
        spec.discovery_dir.mkdir(parents=True, exist_ok=True)
    candidate = spec.config_path.with_name(spec.config_path.name + ".new")
    candidate.write_text(render_config(spec))
    result = subprocess.run(  # noqa: S603 - fixed binary, our own config
        [str(spec.promtool), "check", "config", "--syntax-only", str(candidate)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if result.returncode != 0:
        candidate.unlink(missing_ok=True)
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-6:])
        raise CommandError(f"prometheus: promtool rejected the generated config:\n{tail}")
    os.replace(candidate, spec.config_path)


def start(spec: PrometheusSpec, *, timeout: float = 30.0) -> PrometheusState:
    """Write the config, start Prometheus and wait until ``/-/ready``."""
    ensure_port_free(spec.host, spec.port, what="prometheus")
    _write_checked(spec)
    spec.data_dir.mkdir(parents=True, exist_ok=True)
    handle = start_server(
        [
            spec.binary,
            f"--config.file={spec.config_path}",
            f"--storage.tsdb.path={spec.data_dir}",
            f"--storage.tsdb.retention.time={spec.retention}",
            f"--web.listen-address={spec.host}:{spec.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
            *spec.extra_args,
        ],
        what="prometheus", log_path=spec.log_path,
        ready=lambda _: http_ok(f"{spec.url}/-/ready"), timeout=timeout, interval=0.2,
    )
    return PrometheusState(process=handle)


def stop_server(state: PrometheusState) -> None:
    stop(state.process, sig=signal.SIGTERM, timeout=20)


def destroy(state: PrometheusState | None, spec: PrometheusSpec) -> None:
    """Stop Prometheus and remove its time-series data (rules and config stay)."""
    if state is not None:
        stop_server(state)
    shutil.rmtree(spec.data_dir, ignore_errors=True)


def reconfigure(old: PrometheusSpec, new: PrometheusSpec,
                state: PrometheusState) -> PrometheusState:
    """Apply ``new``: hot reload if only the config changed, else restart."""
    restart = (
        (old.host, old.port, old.data_dir, old.retention, old.extra_args, old.config_path)
        != (new.host, new.port, new.data_dir, new.retention, new.extra_args, new.config_path)
        or not is_running(state.process)
    )
    if not restart:
        _write_checked(new)
        http_post(f"{new.url}/-/reload", what="prometheus")
        return state
    _write_checked(new)  # refuse a bad config before stopping the running one
    stop_server(state)
    return start(new)


def status(spec: PrometheusSpec, state: PrometheusState) -> bool:
    """True if the process runs and answers ``/-/ready``."""
    return serving(state.process, f"{spec.url}/-/ready")
