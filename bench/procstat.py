"""CPU seconds spent by process trees, for "CPU per request" figures.

A :class:`CpuMeter` snapshots the user+system CPU time of every process under some roots
(a server and the workers it forked, a PostgreSQL postmaster and its backends) and
reports what each group used between two snapshots. Processes that start or exit in
between count from their start or up to their last snapshot, so short-lived database
backends are not lost (only what such a process used after the last snapshot is).
"""

from __future__ import annotations

from collections.abc import Mapping

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


class CpuMeter:
    """CPU seconds used by named groups of process trees between ``start()`` and
    ``stop()``."""

    def __init__(self, groups: Mapping[str, list[int]]) -> None:
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self._before: dict[str, dict[int, float]] = {}

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snapshot: dict[str, dict[int, float]] = {}
        for name, roots in self.groups.items():
            seen: dict[int, float] = {}
            for root in roots:
                for process in _tree(root):
                    cpu = _cpu(process)
                    if cpu is not None:
                        seen[process.pid] = cpu
            snapshot[name] = seen
        return snapshot

    def start(self) -> None:
        self._before = self._snapshot()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since :meth:`start`."""
        after = self._snapshot()
        used: dict[str, float] = {}
        for name, now in after.items():
            before = self._before.get(name, {})
            used[name] = round(sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items()), 3)
        return used


__all__ = ["CpuMeter"]
