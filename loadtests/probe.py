"""Generator capacity probe: what one Locust process can make, per CPU-second.

Two kinds of users hammer a target that is never the limit (the benchmark serves canned
EHR answers from HAProxy) for a while:

* ``bare``: Locust's ``FastHttpUser`` with one trivial task, the ceiling of the tool;
* ``practice``: chartguard's own practice users (``loadtests.users``: sign-in, pacing,
  the practice-day tasks, every write keyed, retried and written to a ledger), with think
  times short enough that the process, not the pacing, is the limit.

Over the settled part of the run (the last two thirds) the probe reports requests per
second and per CPU-second of this process (``resource.getrusage``). Requests per
CPU-second is what sizes ``--workers``: a profile's peak over it is how many cores of
generator the run needs. Imports Locust.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import gevent
import locust.runners as locust_runners
from locust import FastHttpUser, User, constant, task
from locust.env import Environment

from loadtests.ledger import LedgerWriter
from loadtests.profile import parse_profile
from loadtests.users import Wiring, build_user_classes

__all__ = ["KINDS", "probe_generator"]

locust_runners.CPU_MONITOR_INTERVAL = 1.0
KINDS = ("bare", "practice")
PROBE_PASSWORD = "chartguard-probe-password"


class _Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def trivial(self) -> None:
        self.client.get("/", name="trivial")


def _practice_users(users: int, ledger: LedgerWriter) -> list[type[User]]:
    """Practice users in practices of three (front desk, clinician, owner), each making
    up to 50 requests/s: far more than one process can serve, so the CPU is the limit."""
    practices = max(1, users // 3)
    profile = parse_profile(
        {
            "name": "generator-probe",
            "practices": practices,
            "people": {"front_desk": 1, "clinician": 1, "owner": 1},
            "seeded_people": {"front_desk": 1, "clinician": 1, "owner": 1},
            "actions_per_hour": {"front_desk": 36_000, "clinician": 36_000, "owner": 36_000},
            "monday_peak_factor": 5.0,
        },
        source="generator probe",
    )
    return list(build_user_classes(Wiring(profile=profile, password=PROBE_PASSWORD, ledger=ledger)))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def probe_generator(
    *, target: str, users: int, seconds: float, kind: str = "bare"
) -> dict[str, Any]:
    """Run ``users`` users of ``kind`` for ``seconds``; measure the last two thirds."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    with tempfile.TemporaryDirectory(prefix="chartguard-probe-") as tmp:
        ledger = LedgerWriter(Path(tmp) / "ledger.jsonl")
        classes: list[type[User]] = (
            [_Hammer] if kind == "bare" else _practice_users(users, ledger)
        )
        env = Environment(user_classes=classes, host=target.rstrip("/"))
        runner = env.create_local_runner()
        try:
            runner.start(users, spawn_rate=users)
            gevent.sleep(seconds / 3)
            start_requests = env.stats.total.num_requests
            start_cpu = _cpu_seconds()
            start = time.monotonic()
            gevent.sleep(seconds * 2 / 3)
            elapsed = time.monotonic() - start
            cpu = _cpu_seconds() - start_cpu
            done = env.stats.total.num_requests - start_requests
            return {
                "kind": kind,
                "users": users,
                "seconds": round(elapsed, 3),
                "requests": done,
                "requests_per_second": round(done / elapsed, 1) if elapsed > 0 else 0.0,
                "cpu_seconds": round(cpu, 3),
                "cpu_percent": round(100 * cpu / elapsed, 1) if elapsed > 0 else 0.0,
                "requests_per_cpu_second": round(done / cpu, 1) if cpu > 0 else 0.0,
                "failures": env.stats.total.num_failures,
                "p50_ms": env.stats.total.get_response_time_percentile(0.5),
            }
        finally:
            runner.quit()
            ledger.close()
