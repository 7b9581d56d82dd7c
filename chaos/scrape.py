"""Listing a running chaos run for the stack's Prometheus (file discovery).

The local stack's Prometheus scrapes every target in ``.state/<stack>/prometheus/targets/
chaos-*.json`` (``file_sd`` format). While a run serves its fault gauge, it lists itself
there, so ``chartguard_chaos_fault_active`` lands in the same TSDB as the SLOs it may
break; the listing is removed when the run ends (after the last scrape saw the rollback).
"""

from __future__ import annotations

from pathlib import Path

from chaos.atomic import write_json_atomic
from chaos.errors import ChaosError
from chaos.safety import require_loopback_address

__all__ = ["JOB", "ScrapeListing"]

JOB = "chaos"


class ScrapeListing:
    """``<directory>/chaos-<run_id>.json`` naming ``address`` (loopback only) while open."""

    def __init__(self, directory: Path, *, run_id: str, address: str, scenario: str) -> None:
        require_loopback_address(address, what="fault gauge address")
        self.path = directory / f"{JOB}-{run_id}.json"
        self._document = [
            {"targets": [address], "labels": {"chaos_run": run_id, "chaos_scenario": scenario}}
        ]

    def __enter__(self) -> ScrapeListing:
        try:
            write_json_atomic(self.path, self._document)
        except OSError as e:
            raise ChaosError(f"cannot list the fault gauge in {self.path}: {e.strerror}") from e
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)
