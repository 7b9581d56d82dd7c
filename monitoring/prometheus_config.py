"""Generate a Prometheus configuration from the topology and the SLO spec.

Scrape jobs come from the local stack's ``deployment.json`` (every region's EHR, the
router's built-in exporter and, when present, the load generator) or are passed in
directly (tests). The rule files are the ones :mod:`monitoring.rules` writes; the rule
evaluation interval follows the SLO profile so a compressed rehearsal's 5-second windows
are evaluated every second.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from monitoring.duration import format_duration
from monitoring.errors import GateInputError
from monitoring.slo import Profile, SLOSpec

__all__ = [
    "ROUTER_METRICS_URL",
    "ScrapeJob",
    "read_deployment",
    "scrape_jobs_from_deployment",
    "url_of",
    "generate_prometheus_config",
    "render_prometheus_config",
]

# docs/interfaces.md: HAProxy's exporter on the stats listener.
ROUTER_METRICS_URL = "http://127.0.0.1:8405/metrics"


@dataclass(frozen=True, kw_only=True)
class ScrapeJob:
    """One scrape job: a name, ``host:port`` targets and the path they serve metrics on."""

    name: str
    targets: tuple[str, ...]
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_url(cls, name: str, url: str, **labels: str) -> ScrapeJob:
        """A job scraping one ``http://host:port/path`` URL (``/metrics`` if no path)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"scrape job {name!r}: not an http(s) URL: {url!r}")
        path = parts.path if parts.path not in ("", "/") else "/metrics"
        return cls(name=name, targets=(parts.netloc,), metrics_path=path, labels=labels)

    def to_config(self, scrape_interval: float) -> dict[str, Any]:
        static: dict[str, Any] = {"targets": list(self.targets)}
        if self.labels:
            static["labels"] = dict(self.labels)
        return {
            "job_name": self.name,
            "scrape_interval": format_duration(scrape_interval),
            "scrape_timeout": format_duration(min(scrape_interval, 10.0)),
            "metrics_path": self.metrics_path,
            "static_configs": [static],
        }


def url_of(value: Any, *keys: str) -> str | None:
    """``value`` if it is a URL string, else the first string under ``keys`` of a mapping."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in keys:
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def read_deployment(path: Path | str) -> Mapping[str, Any]:
    """The parsed ``deployment.json``; :class:`GateInputError` if unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise GateInputError(f"cannot read deployment file {path}: {e}") from e
    if not isinstance(data, Mapping):
        raise GateInputError(f"deployment file {path}: expected a JSON object")
    return data


def scrape_jobs_from_deployment(deployment: Mapping[str, Any] | Path | str) -> list[ScrapeJob]:
    """Scrape jobs for what ``deployment.json`` (a path or its parsed content) says runs.

    Each region's EHR becomes job ``ehr-<region>`` (its metrics carry the region label
    already); the router is job ``router``; a ``load`` entry with a metrics URL becomes
    job ``load``. Raises :class:`GateInputError` when the file is unreadable or has no
    regions.
    """
    if not isinstance(deployment, Mapping):
        deployment = read_deployment(deployment)
    regions = deployment.get("regions")
    if not isinstance(regions, list) or not regions:
        raise GateInputError("deployment: 'regions' must be a non-empty list")
    jobs = []
    for i, region in enumerate(regions):
        name = region.get("name") if isinstance(region, Mapping) else None
        url = url_of(region, "ehr_url")
        if not name or not url:
            raise GateInputError(f"deployment: regions[{i}] needs 'name' and 'ehr_url'")
        jobs.append(ScrapeJob.from_url(f"ehr-{name}", url))
    router = deployment.get("router")
    if router is not None:
        router_url = url_of(router, "metrics_url") or ROUTER_METRICS_URL
        jobs.append(ScrapeJob.from_url("router", router_url))
    load_url = url_of(deployment.get("load"), "metrics_url")
    if load_url:
        jobs.append(ScrapeJob.from_url("load", load_url))
    return jobs


def generate_prometheus_config(
    spec: SLOSpec,
    *,
    jobs: Sequence[ScrapeJob],
    rule_files: Sequence[str] = (),
    alertmanagers: Sequence[str] = (),
    scrape_interval: float = 1.0,
    profile: Profile | str = "standard",
) -> dict[str, Any]:
    """A Prometheus configuration dict; ``alertmanagers`` are base URLs."""
    prof = spec.profile(profile) if isinstance(profile, str) else profile
    if scrape_interval <= 0:
        raise ValueError("scrape_interval must be positive")
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate scrape job names: {sorted(names)}")
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": format_duration(scrape_interval),
            "evaluation_interval": format_duration(
                prof.evaluation_interval or max(scrape_interval, 15.0)
            ),
        },
        "rule_files": list(rule_files),
        "scrape_configs": [job.to_config(scrape_interval) for job in jobs],
    }
    if alertmanagers:
        targets = []
        for url in alertmanagers:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"not an Alertmanager URL: {url!r}")
            targets.append(parts.netloc)
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    return config


def render_prometheus_config(spec: SLOSpec, **options: Any) -> str:
    """The configuration as YAML text (options as for :func:`generate_prometheus_config`)."""
    header = "# Generated by chartguard from the topology and monitoring/slo.yaml; do not edit.\n"
    return header + yaml.safe_dump(generate_prometheus_config(spec, **options), sort_keys=False)
