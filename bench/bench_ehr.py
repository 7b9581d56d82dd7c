"""EHR benchmark: a practice-day request mix against the real service on PostgreSQL.

``main()`` starts a throwaway PostgreSQL on loopback, migrates and seeds it, serves the EHR
with its production server and worker count (``chartguard ehr serve --workers N``), then runs
two headless Locust runs of the same length and user count against that one server:

* ``mix``: what a practice does all day (the day's schedule, patient charts, labs, patient
  search, progress-note writes), each user logged in as one of the seeded practice's staff;
* ``trivial``: ``GET /healthz`` only, the cost of the HTTP stack and workers alone.

It writes requests/s and p50/p95/p99 (ms) for each run, per request kind, and the ratio
mix/trivial of requests/s to ``bench/results/ehr.json``. Every process it starts is stopped
in a ``finally``, and every request goes to 127.0.0.1.

Locust monkey-patches the interpreter with gevent on import, so each Locust run happens in a
child interpreter (``python -m bench.bench_ehr --locust ...``) and this process stays clean
for the other benchmarks that ``python -m bench`` runs after this one.

Knobs (environment, for a quick look or a longer run): ``CHARTGUARD_BENCH_DURATION`` seconds
per run (default 20), ``CHARTGUARD_BENCH_USERS`` (default 16), ``CHARTGUARD_BENCH_WORKERS``
(default 2, the server's own default), ``CHARTGUARD_BENCH_PATIENTS`` per practice (default 300).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ehr.json"
HOST = "127.0.0.1"
PASSWORD_ENV = "CHARTGUARD_SEED_PASSWORD"
DEFAULT_PASSWORD = "chartguard-seed-password"
PRACTICE_SLUGS = ("practice-0000", "practice-0001")
PERCENTILES = (0.5, 0.95, 0.99)
PACED_FRACTION = 0.5
SERVE_DEFAULT_WORKERS = 2  # `chartguard ehr serve`'s own default
# The test cluster runs with fsync off; measure with the durability production would have.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


# --------------------------------------------------------------------------------------------
# the parent: PostgreSQL, the EHR server, the two runs, the result file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _chartguard(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> None:
    """Run one ``chartguard`` command to completion; raise with its stderr on failure."""
    cmd = [sys.executable, "-m", "runbooks.cli", *args]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a child started in its own session, and everything it forked."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the EHR server exited early with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the EHR server at {url} was not ready within {timeout:.0f}s")


@contextmanager
def _ehr_server(dsn: str, *, workers: int, env: dict[str, str]) -> Iterator[str]:
    """Serve the EHR on a free loopback port with the production server; yield its URL."""
    port = _free_port()
    args = ["serve", "--host", HOST, "--port", str(port), "--db", dsn, "--workers", str(workers)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbooks.cli", "ehr", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the workers stop with it
    )
    url = f"http://{HOST}:{port}"
    try:
        _wait_ready(url, proc)
        yield url
    finally:
        _stop_group(proc)


def _locust_run(
    host: str, kind: str, *, users: int, duration: float, outdir: Path, rate: float = 0.0
) -> dict:
    """One headless Locust run in a child interpreter; its stats as a dict.

    ``rate`` > 0 paces the users to that many requests/s in total (an offered load below
    saturation); 0 is a closed loop where each user sends its next request at once.
    """
    out = outdir / f"{kind}-{rate:g}.json"
    cmd = [
        sys.executable, "-m", "bench.bench_ehr", "--locust", kind, "--host", host,
        "--users", str(users), "--duration", str(duration), "--out", str(out),
        "--rate", str(rate),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    try:
        proc.wait(timeout=duration + 120)
    finally:
        _stop_group(proc)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"the {kind} Locust run failed with code {proc.returncode}")
    result: dict = json.loads(out.read_text())
    return result


def main() -> dict:
    """Run the benchmark and write ``bench/results/ehr.json``; return what it wrote."""
    from tests.support.postgres import PostgresCluster  # the suite's real-PostgreSQL helper

    duration = float(os.environ.get("CHARTGUARD_BENCH_DURATION", "20"))
    users = int(os.environ.get("CHARTGUARD_BENCH_USERS", "16"))
    workers = int(os.environ.get("CHARTGUARD_BENCH_WORKERS", str(SERVE_DEFAULT_WORKERS)))
    patients = int(os.environ.get("CHARTGUARD_BENCH_PATIENTS", "300"))

    started = time.monotonic()
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="chartguard-bench-") as tmp,
        PostgresCluster.start(settings=DURABLE) as pg,
    ):
        pg.create_database("chartguard")
        dsn = pg.url("chartguard")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTGUARD_")}
        env.update(
            {
                PASSWORD_ENV: os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD),
                # Keep every file the server writes out of the work tree.
                "CHARTGUARD_EXPORT_DIR": str(Path(tmp) / "exports"),
                "CHARTGUARD_AUDIT_SPOOL_PATH": str(Path(tmp) / "audit-spool.jsonl"),
                "PROMETHEUS_MULTIPROC_DIR": str(Path(tmp) / "metrics"),
                "CHARTGUARD_REGION": "bench",
            }
        )
        _chartguard("ehr", "migrate", "--db", dsn, env=env)
        _chartguard(
            "ehr", "seed", "--db", dsn, "--practices", str(len(PRACTICE_SLUGS)),
            "--patients", str(patients), env=env,
        )  # fmt: skip
        with _ehr_server(dsn, workers=workers, env=env) as url:
            run = {"users": users, "duration": duration, "outdir": Path(tmp)}
            mix = _locust_run(url, "mix", **run)  # type: ignore[arg-type]
            trivial = _locust_run(url, "trivial", **run)  # type: ignore[arg-type]
            # The same mix offered at half the rate it saturated at: latency below the knee.
            paced_rate = round(mix["total"]["rps"] * PACED_FRACTION, 1)
            paced = _locust_run(url, "mix", rate=paced_rate, **run)  # type: ignore[arg-type]
    result = {
        "benchmark": "ehr",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": "postgresql (local, fsync and synchronous_commit on)",
        "server": {"command": "chartguard ehr serve", "workers": workers, "host": HOST},
        "data": {"practices": len(PRACTICE_SLUGS), "patients_per_practice": patients},
        "load": {
            "users": users,
            "duration_seconds": duration,
            "user_class": "FastHttpUser",
            "wait_time": "mix and trivial: none (closed loop, the server's saturation "
            "throughput); mix_paced: constant throughput at half the mix's requests/s",
        },
        "cpu_count": os.cpu_count(),
        "note": "Locust and the server share this machine's CPUs; a load average above the "
        "CPU count means other work competed with both",
        "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "mix": mix,
        "mix_paced": {"offered_rps": paced_rate, **paced},
        "trivial": trivial,
        "ratio_mix_over_trivial_rps": (
            round(mix["total"]["rps"] / trivial["total"]["rps"], 3)
            if trivial["total"]["rps"]
            else None
        ),
        "elapsed_seconds": round(time.monotonic() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = RESULTS.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    tmp_out.replace(RESULTS)
    return result


# --------------------------------------------------------------------------------------------
# the child: one headless Locust run (gevent lives only in this interpreter)


def _summary(entry: Any, elapsed: float) -> dict:
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "rps": round(entry.num_requests / elapsed, 1) if elapsed else 0.0,
        **{
            f"p{int(p * 100)}_ms": round(float(entry.get_response_time_percentile(p) or 0), 1)
            for p in PERCENTILES
        },
        "avg_ms": round(float(entry.avg_response_time), 1),
    }


def _user_classes(kind: str, *, users: int, rate: float) -> list[type]:
    from locust import FastHttpUser, between, constant_throughput, task

    password = os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)
    logins = [
        f"{role}@{slug}.test"
        for slug in PRACTICE_SLUGS
        # Every seeded practice has these (more clinicians only from 1,000 patients up).
        for role in ("owner", "clinician1", "staff1", "staff2")
    ]

    class TrivialUser(FastHttpUser):
        wait_time = constant_throughput(rate / users) if rate > 0 else between(0, 0)

        @task
        def healthz(self) -> None:
            self.client.get("/healthz", name="/healthz")

    class PracticeDayUser(FastHttpUser):
        """A clinician's or front desk's day: schedule, charts, labs, search, notes."""

        wait_time = constant_throughput(rate / users) if rate > 0 else between(0, 0)

        def on_start(self) -> None:
            self.rng = random.Random()
            email = self.rng.choice(logins)
            self.role = email.split("@")[0].rstrip("0123456789")
            with self.client.post(
                "/api/v1/auth/login",
                json={"email": email, "password": password},
                name="login",
                catch_response=True,
            ) as resp:
                if resp.status_code != 200:
                    resp.failure(f"login {resp.status_code}")
                    raise RuntimeError("login failed")
                token = resp.json()["token"]
            self.headers = {"Authorization": f"Bearer {token}"}
            self.patient_ids: list[Any] = []
            self.day = dt.date.today().isoformat()
            self.schedule()
            if not self.patient_ids:
                resp = self.client.get(
                    "/api/v1/patients?page_size=50", headers=self.headers, name="patients"
                )
                if resp.status_code == 200:
                    self.patient_ids = [p["id"] for p in resp.json().get("items", [])]

        def _patient(self) -> Any:
            return self.rng.choice(self.patient_ids) if self.patient_ids else None

        @task(4)
        def schedule(self) -> None:
            resp = self.client.get(
                f"/api/v1/schedule?date={self.day}", headers=self.headers, name="schedule"
            )
            if resp.status_code == 200:
                body = resp.json()
                items = body.get("items", body) if isinstance(body, dict) else body
                ids = [a.get("patient_id") for a in items if isinstance(a, dict)]
                if any(ids):
                    self.patient_ids = [i for i in ids if i is not None]

        @task(4)
        def chart(self) -> None:
            pid = self._patient()
            if pid is not None:
                self.client.get(f"/api/v1/patients/{pid}/chart", headers=self.headers, name="chart")

        @task(2)
        def labs(self) -> None:
            pid = self._patient()
            if pid is not None:
                self.client.get(f"/api/v1/patients/{pid}/labs", headers=self.headers, name="labs")

        @task(1)
        def search(self) -> None:
            q = self.rng.choice("abcdefghijklmnoprstw")
            self.client.get(
                f"/api/v1/patients?q={q}&page_size=20", headers=self.headers, name="search"
            )

        @task(1)
        def write_note(self) -> None:
            pid = self._patient()
            if pid is None or self.role == "staff":
                return
            self.client.post(
                "/api/v1/encounters",
                json={"patient_id": pid, "note": "Benchmark visit: synthetic progress note."},
                headers=self.headers,
                name="note_write",
            )

    return [PracticeDayUser] if kind == "mix" else [TrivialUser]


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_ehr --locust")
    parser.add_argument("--locust", choices=("mix", "trivial"), required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    if not args.host.startswith(f"http://{HOST}:"):
        raise SystemExit("the EHR benchmark only targets 127.0.0.1")

    import gevent
    from locust.env import Environment

    classes = _user_classes(args.locust, users=args.users, rate=args.rate)
    env = Environment(user_classes=classes, host=args.host, stop_timeout=5)
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.users)
    # Spawning, logging in (argon2 is slow on purpose) and warming up are not measured.
    deadline = time.monotonic() + 60
    while args.locust == "mix" and time.monotonic() < deadline:
        if env.stats.get("login", "POST").num_requests >= args.users:
            break
        gevent.sleep(0.2)
    logins = env.stats.get("login", "POST")
    if logins.num_failures:
        runner.quit()
        raise SystemExit(f"{logins.num_failures} of {logins.num_requests} logins failed")
    gevent.sleep(2)
    env.stats.reset_all()
    started = time.monotonic()
    gevent.sleep(args.duration)
    elapsed = time.monotonic() - started
    stats = {
        "total": _summary(env.stats.total, elapsed),
        "by_request": {
            name: _summary(entry, elapsed)
            for (name, _method), entry in sorted(env.stats.entries.items())
            if entry.num_requests
        },
        "errors": {
            f"{e.method} {e.name}: {e.error}"[:200]: e.occurrences
            for e in env.stats.errors.values()
        },
    }
    runner.quit()
    runner.greenlet.join(timeout=10)
    args.out.write_text(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
