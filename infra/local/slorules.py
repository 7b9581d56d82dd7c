"""chartguard's SLO rules and Alertmanager routes, installed into the running stack.

The rules and the Alertmanager configuration belong to the monitoring package; infra
only runs its command, ``chartguard slo install`` (packages meet through commands and
files, never imports), once Prometheus and Alertmanager answer. The resource's inputs
carry the SLO spec's SHA-256, so editing ``monitoring/slo.yaml`` (or switching the
profile) installs again on the next ``up``, and an unchanged spec changes nothing.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infra.local.errors import CommandError, InvalidSpecError
from infra.local.process import child_env, ensure_loopback
from infra.local.settings import LocalSettings

__all__ = ["PROFILES", "RULES_FILE", "SloProfile", "SloRulesSpec", "spec_digest", "install",
           "installed", "uninstall"]

SloProfile = Literal["standard", "compressed"]
PROFILES: tuple[SloProfile, ...] = ("standard", "compressed")
#: Where ``chartguard slo install`` writes the rules, relative to the stack folder
#: (docs/interfaces.md).
RULES_FILE = Path("prometheus") / "rules" / "chartguard-slo.yml"


def spec_digest(path: Path) -> str:
    """SHA-256 of the SLO spec file; :class:`InvalidSpecError` if it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise InvalidSpecError(f"SLO spec {path}: cannot read it: {e.strerror}") from e


def _check_url(url: str, what: str) -> None:
    if not url.startswith("http://"):
        raise InvalidSpecError(f"slo rules: {what} {url!r} must be an http:// URL")
    host = url.removeprefix("http://").split("/", 1)[0].rpartition(":")[0]
    ensure_loopback(host, what=f"slo rules {what}")


@dataclass(frozen=True, kw_only=True)
class SloRulesSpec:
    """What to install where: profile, spec file (and its digest) and the servers."""

    stack_dir: Path
    profile: SloProfile = "standard"
    spec_path: Path
    spec_sha256: str
    webhook_url: str
    prometheus_url: str
    alertmanager_url: str
    chartguard_bin: Path = field(default_factory=lambda: LocalSettings().chartguard_bin)
    timeout: float = 120.0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise InvalidSpecError(
                f"chartguard:sloProfile must be one of {list(PROFILES)}, not {self.profile!r}"
            )
        if len(self.spec_sha256) != 64:
            raise InvalidSpecError("slo rules: spec_sha256 must be a SHA-256 hex digest")
        _check_url(self.webhook_url, "webhook_url")
        _check_url(self.prometheus_url, "prometheus_url")
        _check_url(self.alertmanager_url, "alertmanager_url")

    @property
    def rules_path(self) -> Path:
        return self.stack_dir / RULES_FILE

    def argv(self) -> list[str]:
        return [str(self.chartguard_bin), "slo", "install", "--stack-dir", str(self.stack_dir),
                "--profile", self.profile, "--spec", str(self.spec_path),
                "--webhook", self.webhook_url, "--prometheus", self.prometheus_url,
                "--alertmanager", self.alertmanager_url]


def install(spec: SloRulesSpec) -> None:
    """Run ``chartguard slo install``: write both files, reload both servers.

    The spec must still be the one the digest was taken of (else the state would claim
    rules that were never installed). Raises :class:`CommandError` with the command's
    own message when it fails; a failed install leaves the previous files in place.
    """
    if spec_digest(spec.spec_path) != spec.spec_sha256:
        raise InvalidSpecError(f"SLO spec {spec.spec_path} changed during the update; run up again")
    try:
        result = subprocess.run(  # noqa: S603 - fixed entry point, validated spec
            spec.argv(), capture_output=True, text=True, timeout=spec.timeout, check=False,
            env=child_env(), cwd=spec.stack_dir,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CommandError(f"slo install: {e}") from e
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-6:])
        raise CommandError(f"slo install exited {result.returncode}: {tail}")


def installed(spec: SloRulesSpec) -> bool:
    """True while the rules file is in place (Prometheus loads it at every (re)start)."""
    return spec.rules_path.is_file()


def uninstall(spec: SloRulesSpec) -> None:
    """Remove the rules file (the servers are going, or the next install rewrites it)."""
    spec.rules_path.unlink(missing_ok=True)
