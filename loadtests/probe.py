"""Generator capacity probe: how many requests/s one Locust process can make.

Users without think time hammer a trivial endpoint (the benchmark serves one from HAProxy)
for a while; the rate over the settled part of the run is what one generator process can
produce, which tells how many ``--workers`` a profile's peak needs. Imports Locust.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
import locust.runners as locust_runners
from locust import FastHttpUser, constant, task
from locust.env import Environment

__all__ = ["probe_generator"]

locust_runners.CPU_MONITOR_INTERVAL = 1.0


class _Hammer(FastHttpUser):
    wait_time = constant(0)

    @task
    def trivial(self) -> None:
        self.client.get("/", name="trivial")


def probe_generator(*, target: str, users: int, seconds: float) -> dict[str, Any]:
    """Run ``users`` think-time-free users for ``seconds``; measure the last two thirds."""
    env = Environment(user_classes=[_Hammer], host=target.rstrip("/"))
    runner = env.create_local_runner()
    try:
        runner.start(users, spawn_rate=users)
        gevent.sleep(seconds / 3)
        start_requests = env.stats.total.num_requests
        start = time.monotonic()
        gevent.sleep(seconds * 2 / 3)
        elapsed = time.monotonic() - start
        done = env.stats.total.num_requests - start_requests
        return {
            "users": users,
            "seconds": round(elapsed, 3),
            "requests": done,
            "requests_per_second": round(done / elapsed, 1) if elapsed > 0 else 0.0,
            "failures": env.stats.total.num_failures,
            "p50_ms": env.stats.total.get_response_time_percentile(0.5),
            "cpu_percent": runner.current_cpu_usage,
        }
    finally:
        runner.quit()
