"""One headless Locust run against the EHR, for ``bench_ehr`` (a child interpreter).

Locust patches the interpreter with gevent on import, so every run lives in a process of
its own: ``python -m bench.ehr_locust --mode MODE --host URL ...``. It prints
``MEASURE start`` and ``MEASURE stop`` on stdout around the measured window (after the
sign-ins and a warm-up), so the parent can read the servers' CPU over exactly that
window, and writes its figures as JSON to ``--out``.

Modes:

* ``trivial``: ``GET /healthz`` only, the HTTP stack and workers alone;
* ``mix``: a practice's day (schedule, charts, labs, patient search, progress notes),
  people of ``--practices`` practices, each signed in as a seeded account;
* ``class:NAME``: one request kind of the mix alone (for CPU per request by class);
* ``storm``: the mix paced at ``--rate`` while every person of the default profile's
  practices signs in within ``--storm-seconds`` (retrying after a 429 as a client
  would), with ``/readyz`` read every 0.25 s under the router's 2 s check timeout.

Latencies are recorded per request as they happen (not Locust's rounded percentiles).
Every request goes to 127.0.0.1; the run stops by itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
PASSWORD_ENV = "CHARTGUARD_SEED_PASSWORD"
DEFAULT_PASSWORD = "chartguard-seed-password"
#: Request kinds of the mix and their weights (a person's clicks over a day).
MIX = {"schedule": 4, "chart": 4, "labs": 2, "search": 1, "note_write": 1}
READS = frozenset({"schedule", "chart", "labs", "search", "patients"})
#: Seeded accounts of every practice (``chartguard ehr seed``).
ACCOUNTS = ("owner", "clinician1", "staff1", "staff2")
WRITERS = ("owner", "clinician1")
READY_TIMEOUT = 2.0  # the router's health check timeout
READY_EVERY = 0.25


def percentile(values: list[float], p: float) -> float | None:
    """The ``p`` quantile (nearest rank) of ``values``, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p * len(ordered) + 0.5)) - 1))
    return round(ordered[rank], 1)


def summary(latencies_ms: list[float], failures: int, seconds: float) -> dict[str, Any]:
    return {
        "requests": len(latencies_ms),
        "failures": failures,
        "rps": round(len(latencies_ms) / seconds, 1) if seconds else 0.0,
        "p50_ms": percentile(latencies_ms, 0.50),
        "p95_ms": percentile(latencies_ms, 0.95),
        "p99_ms": percentile(latencies_ms, 0.99),
    }


class Recorder:
    """Every request's latency by name while recording."""

    def __init__(self) -> None:
        self.on = False
        self.latency: dict[str, list[float]] = {}
        self.failures: dict[str, int] = {}
        self.errors: dict[str, int] = {}

    def __call__(
        self, request_type: str, name: str, response_time: float, exception: Any, **_: Any
    ) -> None:
        if not self.on:
            return
        self.latency.setdefault(name, []).append(float(response_time))
        if exception is not None:
            self.failures[name] = self.failures.get(name, 0) + 1
            key = f"{request_type} {name}: {type(exception).__name__}"[:120]
            self.errors[key] = self.errors.get(key, 0) + 1

    def report(self, seconds: float, names: frozenset[str] | None = None) -> dict[str, Any]:
        picked = {n: v for n, v in self.latency.items() if names is None or n in names}
        every = [ms for values in picked.values() for ms in values]
        return {
            "total": summary(every, sum(self.failures.get(n, 0) for n in picked), seconds),
            "by_request": {
                name: summary(values, self.failures.get(name, 0), seconds)
                for name, values in sorted(picked.items())
            },
            "errors": dict(self.errors),
        }


def login_of(index: int, practices: int, accounts: tuple[str, ...]) -> str:
    """The ``index``-th person's seeded account: practices round robin, roles mixed."""
    return f"{accounts[index % len(accounts)]}@practice-{index % practices:04d}.test"


def user_classes(
    mode: str, *, users: int, rate: float, practices: int, signed_in: list[int]
) -> list[type]:
    """The run's Locust user class; ``signed_in[0]`` counts the people signed in. Nobody
    starts working before everybody signed in: people hammering a saturated EHR would
    leave the last sign-ins no CPU (password work yields to requests, by design)."""
    import gevent
    from gevent.event import Event
    from locust import FastHttpUser, constant, constant_throughput, task

    everybody_in = Event()

    password = os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)
    wait = constant_throughput(rate / users) if rate > 0 else constant(0)
    only = mode.removeprefix("class:") if mode.startswith("class:") else None
    accounts = WRITERS if only == "note_write" else ACCOUNTS
    counter = iter(range(10**9))

    class TrivialUser(FastHttpUser):
        wait_time = wait

        @task
        def healthz(self) -> None:
            self.client.get("/healthz", name="healthz")

    class PracticeDayUser(FastHttpUser):
        """A clinician's or front desk's day: schedule, charts, labs, search, notes."""

        wait_time = wait

        def on_start(self) -> None:
            self.rng = random.Random()
            email = login_of(next(counter), practices, accounts)
            self.writer = email.split("@")[0] in WRITERS
            for _ in range(30):  # a 429 (sign-ins are bounded) is retried as it says
                with self.client.post(
                    "/api/v1/auth/login",
                    json={"email": email, "password": password},
                    name="login",
                    catch_response=True,
                ) as resp:
                    if resp.status_code == 429:
                        resp.success()
                        wait = retry_after(resp.headers)
                        continue
                    if resp.status_code != 200:
                        resp.failure(f"login {resp.status_code}")
                        raise RuntimeError("login failed")
                    token = resp.json()["token"]
                    break
                gevent.sleep(wait)
            else:
                raise RuntimeError("login refused 30 times")
            signed_in[0] += 1
            if signed_in[0] >= users:
                everybody_in.set()
            everybody_in.wait(timeout=120)
            self.headers = {"Authorization": f"Bearer {token}"}
            self.patient_ids: list[int] = []
            self.day = dt.date.today().isoformat()
            self._schedule()
            if not self.patient_ids:
                resp = self.client.get(
                    "/api/v1/patients?page_size=50", headers=self.headers, name="patients"
                )
                if resp.status_code == 200:
                    self.patient_ids = [p["id"] for p in resp.json().get("items", [])]

        def _patient(self) -> int | None:
            return self.rng.choice(self.patient_ids) if self.patient_ids else None

        def _schedule(self) -> None:
            resp = self.client.get(
                f"/api/v1/schedule?date={self.day}", headers=self.headers, name="schedule"
            )
            if resp.status_code == 200:
                ids = [a["patient_id"] for a in resp.json().get("items", [])]
                if ids:
                    self.patient_ids = ids

        def _chart(self) -> None:
            pid = self._patient()
            if pid is not None:
                self.client.get(f"/api/v1/patients/{pid}/chart", headers=self.headers, name="chart")

        def _labs(self) -> None:
            pid = self._patient()
            if pid is not None:
                self.client.get(f"/api/v1/patients/{pid}/labs", headers=self.headers, name="labs")

        def _search(self) -> None:
            q = self.rng.choice("abcdefghijklmnoprstw")
            self.client.get(
                f"/api/v1/patients?q={q}&page_size=20", headers=self.headers, name="search"
            )

        def _note_write(self) -> None:
            pid = self._patient()
            if pid is None or not self.writer:
                return
            self.client.post(
                "/api/v1/encounters",
                json={"patient_id": pid, "note": "Benchmark visit: synthetic progress note."},
                headers=self.headers,
                name="note_write",
            )

        @task
        def work(self) -> None:
            kinds = [only] if only else list(MIX)
            weights = None if only else list(MIX.values())
            getattr(self, f"_{self.rng.choices(kinds, weights)[0]}")()

    return [TrivialUser] if mode == "trivial" else [PracticeDayUser]


def retry_after(headers: Any) -> float:
    """Seconds a 429 asks to wait (1 when it does not say)."""
    try:
        return float(headers["Retry-After"])
    except (TypeError, KeyError, ValueError):
        return 1.0


def sign_in_storm(host: str, *, people: int, seconds: float, practices: int) -> dict[str, Any]:
    """``people`` sign-ins spread evenly over ``seconds`` (accounts of ``practices``
    practices, round robin), each retrying after a 429 as its ``Retry-After`` says (at
    most 20 times); returns what happened."""
    import gevent
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment

    password = os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)
    events = Environment().events.request  # not the run's: these are not mix requests
    counts = {"signed_in": 0, "refused_429": 0, "failed": 0}
    latencies: list[float] = []

    def one(index: int) -> None:
        session = FastHttpSession(host, request_event=events, user=None)
        email = login_of(index, practices, ACCOUNTS)
        for _ in range(20):
            started = time.monotonic()
            resp = session.post(
                "/api/v1/auth/login", json={"email": email, "password": password}, name="storm"
            )
            if resp.status_code == 429:
                counts["refused_429"] += 1
                gevent.sleep(retry_after(resp.headers))
                continue
            if resp.status_code == 200:
                counts["signed_in"] += 1
                latencies.append((time.monotonic() - started) * 1000)
            else:
                counts["failed"] += 1
            return
        counts["failed"] += 1

    started = time.monotonic()
    greenlets = []
    for i in range(people):
        greenlets.append(gevent.spawn(one, i))
        gevent.sleep(seconds / people)
    gevent.joinall(greenlets, timeout=seconds * 4)
    return {
        **counts,
        "people": people,
        "offered_over_s": seconds,
        "all_signed_in_after_s": round(time.monotonic() - started, 1),
        "sign_in_p50_ms": percentile(latencies, 0.5),
        "sign_in_p99_ms": percentile(latencies, 0.99),
    }


def watch_ready(host: str, until: list[bool]) -> dict[str, Any]:
    """Read ``/readyz`` every 0.25 s until ``until[0]``: the worst answer time, and how
    many missed the router's check timeout or were not 200."""
    import gevent
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment

    session = FastHttpSession(
        host, request_event=Environment().events.request, user=None, network_timeout=10
    )
    worst, missed, checks = 0.0, 0, 0
    while not until[0]:
        started = time.monotonic()
        try:
            ok = session.get("/readyz", name="readyz").status_code == 200
        except Exception:
            ok = False
        took = time.monotonic() - started
        checks += 1
        worst = max(worst, took)
        if not ok or took > READY_TIMEOUT:
            missed += 1
        gevent.sleep(max(0.0, READY_EVERY - took))
    return {"checks": checks, "worst_ms": round(worst * 1000, 1), "missed": missed}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ehr_locust")
    parser.add_argument("--mode", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--practices", type=int, default=2)
    parser.add_argument("--storm-people", type=int, default=480)
    parser.add_argument("--storm-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    if not args.host.startswith(f"http://{HOST}:"):
        raise SystemExit(f"the EHR benchmark only targets {HOST}")

    import gevent
    from locust.env import Environment

    recorder = Recorder()
    signed_in = [0]
    classes = user_classes(
        "mix" if args.mode == "storm" else args.mode,
        users=args.users,
        rate=args.rate,
        practices=args.practices,
        signed_in=signed_in,
    )
    env = Environment(user_classes=classes, host=args.host, stop_timeout=5)
    env.events.request.add_listener(recorder)
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.users)
    # Spawning, signing in (argon2 is slow on purpose) and warming up are not measured.
    deadline = time.monotonic() + 120
    while args.mode != "trivial" and time.monotonic() < deadline:
        if signed_in[0] >= args.users:
            break
        gevent.sleep(0.2)
    logins_stat = env.stats.get("login", "POST")
    if logins_stat.num_failures:
        runner.quit()
        raise SystemExit(f"{logins_stat.num_failures} of {logins_stat.num_requests} logins failed")
    gevent.sleep(2)
    result: dict[str, Any] = {"mode": args.mode, "users": args.users, "offered_rps": args.rate}
    print("MEASURE start", flush=True)
    recorder.on = True
    started = time.monotonic()
    if args.mode == "storm":
        done = [False]
        watcher = gevent.spawn(watch_ready, args.host, done)
        result["sign_in"] = sign_in_storm(
            args.host,
            people=args.storm_people,
            seconds=args.storm_seconds,
            practices=args.practices,
        )
        done[0] = True
        result["readyz"] = watcher.get(timeout=10)
    else:
        gevent.sleep(args.duration)
    elapsed = time.monotonic() - started
    recorder.on = False
    print("MEASURE stop", flush=True)
    result["seconds"] = round(elapsed, 2)
    result.update(recorder.report(elapsed))
    result["reads"] = recorder.report(elapsed, READS)["total"]
    runner.quit()
    runner.greenlet.join(timeout=10)
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
