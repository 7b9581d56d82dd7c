"""Install the SLO rules and the Alertmanager configuration into a running local stack.

The local stack (infra) keeps Prometheus' rules in ``<stack>/prometheus/rules/*.yml`` and
Alertmanager's configuration in ``<stack>/alertmanager/alertmanager.yml`` and leaves both
to this package. :func:`install` writes them for a profile (atomically, Alertmanager's
validated by ``amtool`` first when installed, so a bad file never replaces a good one) and
asks both servers to reload; their URLs come from ``<stack>/deployment.json`` unless given.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from monitoring.alertmanager import render_alertmanager_config
from monitoring.errors import MonitoringError, PrometheusUnavailable, SpecError
from monitoring.files import atomic_write
from monitoring.prometheus_config import read_deployment, url_of
from monitoring.promql import PrometheusClient
from monitoring.rules import write_rules
from monitoring.slo import Profile, SLOSpec

__all__ = ["InstallResult", "install", "RULES_DIR", "ALERTMANAGER_CONFIG"]

RULES_DIR = Path("prometheus") / "rules"
ALERTMANAGER_CONFIG = Path("alertmanager") / "alertmanager.yml"


@dataclass(frozen=True)
class InstallResult:
    """What was written and which servers reloaded it."""

    rules_path: Path
    alertmanager_path: Path
    reloaded: list[str] = field(default_factory=list)


def _check_alertmanager(text: str) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(text)
        f.flush()
        done = subprocess.run([amtool, "check-config", f.name], capture_output=True, text=True,
                              timeout=60)
    if done.returncode != 0:
        raise SpecError(f"amtool rejected the generated Alertmanager config: {done.stdout}"
                        f"{done.stderr}")


def _reload_alertmanager(url: str, timeout: float) -> None:
    try:
        response = httpx.post(f"{url.rstrip('/')}/-/reload", timeout=timeout)
    except httpx.HTTPError as e:
        raise PrometheusUnavailable(f"Alertmanager at {url} did not answer: {e}") from e
    if response.status_code != 200:
        raise MonitoringError(f"Alertmanager at {url} refused to reload (HTTP "
                              f"{response.status_code}: {response.text.strip()[:200]})")


def install(
    spec: SLOSpec,
    *,
    stack_dir: Path,
    profile: Profile | str,
    webhook_url: str,
    prometheus_url: str | None = None,
    alertmanager_url: str | None = None,
    reload: bool = True,
    timeout: float = 10.0,
) -> InstallResult:
    """Write rules and Alertmanager config into ``stack_dir`` and reload both servers.

    With ``reload`` and no URL given, the URLs are read from ``stack_dir/deployment.json``
    (``prometheus_url``/``alertmanager_url``, or ``prometheus``/``alertmanager`` as a URL or
    an object with ``url``). Raises a :class:`MonitoringError` naming what failed.
    """
    am_text = render_alertmanager_config(spec, webhook_url=webhook_url, profile=profile)
    _check_alertmanager(am_text)
    rules_path = write_rules(spec, stack_dir / RULES_DIR, profile)
    am_path = atomic_write(stack_dir / ALERTMANAGER_CONFIG, am_text)
    result = InstallResult(rules_path=rules_path, alertmanager_path=am_path)
    if not reload:
        return result
    if prometheus_url is None or alertmanager_url is None:
        deployment = read_deployment(stack_dir / "deployment.json")
        prometheus_url = prometheus_url or url_of(deployment.get("prometheus_url")) or url_of(
            deployment.get("prometheus"), "url")
        alertmanager_url = alertmanager_url or url_of(deployment.get("alertmanager_url")) or (
            url_of(deployment.get("alertmanager"), "url"))
    if not prometheus_url or not alertmanager_url:
        raise MonitoringError(f"{stack_dir / 'deployment.json'}: no Prometheus or Alertmanager "
                              "URL to reload (give them explicitly)")
    with PrometheusClient(prometheus_url, timeout=timeout) as client:
        client.reload()
    result.reloaded.append(prometheus_url)
    _reload_alertmanager(alertmanager_url, timeout)
    result.reloaded.append(alertmanager_url)
    return result
