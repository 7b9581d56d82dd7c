"""The load generator's measured capacity, as ``--workers`` quotes it.

``python -m bench load`` measures what one generator process makes per CPU-second with
chartguard's practice users and with bare Locust (``loadtests/probe.py``) and writes it to
``bench/results/load.json``; the CLI's help reads it from there, so the figure it quotes is
the last one measured on this checkout, never a number typed into the help.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "load.json"


def workers_help(results: Path = RESULTS) -> str:
    """The ``--workers`` help sentence on generator capacity (or how to measure it)."""
    try:
        generator = json.loads(results.read_text())["generator"]
        practice = float(generator["practice"]["requests_per_cpu_second"])
        bare = float(generator["bare"]["requests_per_cpu_second"])
    except (OSError, ValueError, KeyError, TypeError):
        return "Generator capacity not measured here yet: run `make bench`."
    return (
        f"One process makes about {practice:,.0f} practice requests per CPU-second here "
        f"({bare:,.0f} for bare Locust; bench/results/load.json): a profile's peak needs "
        f"about peak / {practice:,.0f} cores of generator, and a process saturated below "
        "its target rate makes the verdict generator-bottleneck."
    )


__all__ = ["workers_help"]
