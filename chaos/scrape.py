"""A chaos run listed for the stack's Prometheus: its fault gauge, job ``chaos``
(see :mod:`chartguard_common.scrape`)."""

from __future__ import annotations

from pathlib import Path

from chaos.errors import ChaosError
from chaos.safety import require_loopback_address
from chartguard_common.scrape import ScrapeListing

__all__ = ["JOB", "list_run"]

JOB = "chaos"


def list_run(directory: Path, *, run_id: str, address: str, scenario: str) -> ScrapeListing:
    """The listing of run ``run_id``'s fault gauge at ``address``; enter it to list."""
    require_loopback_address(address, what="fault gauge address")
    if not directory.is_dir():
        raise ChaosError(f"{directory}: no scrape-target folder (is the stack up?)")
    return ScrapeListing(directory, job=JOB, name=run_id, address=address,
                         labels={"chaos_run": run_id, "chaos_scenario": scenario})
