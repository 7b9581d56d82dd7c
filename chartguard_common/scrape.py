"""Listing a running process for the local stack's Prometheus (file discovery).

The stack's Prometheus scrapes every target in ``.state/<stack>/prometheus/targets/
<job>-*.json`` (the ``file_sd`` format, one job per prefix). A process that comes and goes
(a chaos run's fault gauge) lists its loopback metrics address there while it runs, so
what it measures lands in the same TSDB as the SLOs; it
removes the listing when it ends, after one more scrape has seen its last values.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from chartguard_common.loopback import is_loopback_host

__all__ = ["LINGER_S", "ScrapeListing", "scrape_dir"]

# Seconds a listed process stays up after its work: more than the stack's scrape
# interval (1 s), so the TSDB holds its final values.
LINGER_S = 2.5


def scrape_dir(stack_dir: Path) -> Path:
    """Where the stack at ``stack_dir`` (``.state/<stack>``) discovers scrape targets."""
    return stack_dir / "prometheus" / "targets"


class ScrapeListing:
    """``<directory>/<job>-<name>.json`` naming ``address`` (loopback) while entered.

    ``linger`` keeps the listing (and the caller's server) for :data:`LINGER_S` more
    seconds on exit. Raises :class:`OSError` when the listing cannot be written and
    :class:`ValueError` for an address outside loopback.
    """

    def __init__(
        self,
        directory: Path,
        *,
        job: str,
        name: str,
        address: str,
        labels: dict[str, str] | None = None,
        linger: bool = True,
    ) -> None:
        if not is_loopback_host(address.rpartition(":")[0]):
            raise ValueError(f"scrape target {address} is outside loopback")
        self.path = directory / f"{job}-{name}.json"
        self._document = [{"targets": [address], "labels": dict(labels or {})}]
        self._linger = linger

    def __enter__(self) -> ScrapeListing:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self._document), encoding="utf-8")
        os.replace(tmp, self.path)  # Prometheus never reads half a file
        return self

    def __exit__(self, *exc: object) -> None:
        if self._linger:
            time.sleep(LINGER_S)
        self.path.unlink(missing_ok=True)
