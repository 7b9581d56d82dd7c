"""EHR benchmark: what the EHR costs per request, on the PostgreSQL the local stack runs.

``main()`` starts a PostgreSQL primary with a hot standby in sync mode as the local stack
configures them (fsync on, ``synchronous_commit = remote_apply``, shared_buffers 32MB),
migrates and seeds it with the default profile's 60 practices, serves the EHR with its
production server (``chartguard ehr serve --workers N``) and measures, each run a
headless Locust child (:mod:`bench.ehr_locust`) while the servers' CPU is read from
``/proc`` over exactly its measured window (:mod:`bench.procstat`):

* ``trivial``: ``GET /healthz`` closed loop, the HTTP stack alone;
* ``mix``: the practice-day mix (schedule, charts, labs, search, progress notes)
  closed loop: its saturation throughput, the EHR's capacity; ``ratio_mix_over_healthz``;
* ``cpu_ms_per_request_by_class``: each request kind of the mix alone;
* ``paced_80pct``: the mix offered at 80% of its saturation rate (paced users);
* ``sign_in_storm``: the mix at 50% while all 480 people of the default profile sign in
  within 30 s: reads' p99, ``/readyz``'s worst answer, sign-ins refused with 429;
* ``monday_peak_share_of_capacity``: the default profile's Monday peak over the mix's
  saturation throughput.

Each figure is judged against the goal of the EHR performance issue (``goals``); the
previous run's headline figures are kept under ``previous``. With
``CHARTGUARD_BENCH_PROFILE=1`` (``python -m bench ehr --profile``) a py-spy flame graph
of one worker during the mix goes to ``bench/results/ehr-profile.svg`` and its hottest
frames into the results. Every process started here is stopped in a ``finally``, and
every request goes to 127.0.0.1.

Knobs (environment): ``CHARTGUARD_BENCH_DURATION`` seconds per run (20),
``CHARTGUARD_BENCH_USERS`` (32), ``CHARTGUARD_BENCH_WORKERS`` (2, ``serve``'s default),
``CHARTGUARD_BENCH_PRACTICES`` (60) and ``CHARTGUARD_BENCH_PATIENTS`` per practice (300).
"""

from __future__ import annotations

import datetime as dt
import json
import os
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

from bench.procstat import CpuMeter

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ehr.json"
HOST = "127.0.0.1"
PASSWORD_ENV = "CHARTGUARD_SEED_PASSWORD"
DEFAULT_PASSWORD = "chartguard-seed-password"
SERVE_DEFAULT_WORKERS = 2  # `chartguard ehr serve`'s own default
CLASSES = ("schedule", "chart", "labs", "search", "note_write")
#: The local stack's primary (infra/local/postgres.py), plus durability.
STACK_POSTGRES = {
    "fsync": "on",
    "full_page_writes": "on",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "synchronous_commit": "remote_apply",
    "synchronous_standby_names": "'*'",
    "hot_standby_feedback": "on",
}
#: The EHR performance issue's goals, judged in ``goals``.
GOALS = {
    "ratio_mix_over_healthz": (">=", 0.5),
    "paced_80pct.p99_ms": ("<=", 100.0),
    "cpu_ms_per_request": ("<=", 2.0),
    "sign_in_storm.read_p99_ms": ("<=", 250.0),
    "sign_in_storm.readyz_worst_ms": ("<=", 2000.0),
    "monday_peak_share_of_capacity": ("<=", 0.4),
}
PREVIOUS_KEYS = (
    "when",
    "ratio_mix_over_healthz",
    "ratio_mix_over_trivial_rps",
    "cpu_ms_per_request",
    "monday_peak_share_of_capacity",
)


# --------------------------------------------------------------------------------------------
# processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _chartguard(*args: str, env: dict[str, str], timeout: float = 600) -> None:
    """Run one ``chartguard`` command to completion; raise with its stderr on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "runbooks.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        what = " ".join(args[:2])
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
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


def _postmaster_pid(datadir: Path) -> int:
    return int((datadir / "postmaster.pid").read_text().splitlines()[0])


@contextmanager
def _stack_postgres() -> Iterator[tuple[str, list[int]]]:
    """A primary and its sync hot standby, configured as the local stack's; yields the
    primary's DSN and both postmasters' pids."""
    from tests.support.postgres import PostgresCluster  # the suite's real-PostgreSQL helper

    settings = {k: v for k, v in STACK_POSTGRES.items() if not k.startswith("synchronous")}
    with PostgresCluster.start(settings=settings) as primary:
        standby = primary.start_standby(settings=settings)
        for name in ("synchronous_standby_names", "synchronous_commit"):
            primary.execute(f"ALTER SYSTEM SET {name} = {STACK_POSTGRES[name]}")
        primary.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 30
        sync = "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"
        while primary.scalar(sync) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not become synchronous within 30 s")
            time.sleep(0.2)
        primary.create_database("chartguard")
        yield primary.url("chartguard"), [
            _postmaster_pid(primary.datadir),
            _postmaster_pid(standby.datadir),
        ]


@contextmanager
def _ehr_server(dsn: str, *, workers: int, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """Serve the EHR on a free loopback port with the production server; yield its URL
    and the server's pid (its workers are its children)."""
    port = _free_port()
    args = ["serve", "--host", HOST, "--port", str(port), "--db", dsn, "--workers", str(workers)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbooks.cli", "ehr", *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so the workers stop with it
    )  # fmt: skip
    url = f"http://{HOST}:{port}"
    try:
        _wait_ready(url, proc)
        yield url, proc.pid
    finally:
        _stop_group(proc)


class Runner:
    """Locust runs against one server, each with the servers' CPU over its window."""

    def __init__(self, url: str, *, groups: dict[str, list[int]], workdir: Path, practices: int):
        self.url = url
        self.groups = groups
        self.workdir = workdir
        self.practices = practices
        self.profile_pid: int | None = None

    def run(
        self,
        mode: str,
        *,
        users: int,
        duration: float,
        rate: float = 0.0,
        profile_to: Path | None = None,
    ) -> dict[str, Any]:
        out = self.workdir / f"{mode.replace(':', '-')}-{rate:g}.json"
        cmd = [
            sys.executable, "-m", "bench.ehr_locust", "--mode", mode, "--host", self.url,
            "--users", str(users), "--duration", str(duration), "--out", str(out),
            "--rate", str(rate), "--practices", str(self.practices),
        ]  # fmt: skip
        child = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        meter = CpuMeter({**self.groups, "generator": [child.pid]})
        spy: subprocess.Popen[bytes] | None = None
        cpu: dict[str, float] = {}
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("MEASURE start"):
                    meter.start()
                    if profile_to is not None:
                        spy = _start_profile(self.groups["ehr"][0], profile_to, duration)
                elif line.startswith("MEASURE stop"):
                    cpu = meter.stop()
            child.wait(timeout=duration + 300)
        finally:
            _stop_group(child)
            if spy is not None:
                spy.wait(timeout=60)
        if child.returncode != 0 or not out.exists() or not cpu:
            raise RuntimeError(f"the {mode} Locust run failed with code {child.returncode}")
        result: dict[str, Any] = json.loads(out.read_text())
        requests = max(result["total"]["requests"], 1)
        result["cpu_seconds"] = cpu
        result["cpu_ms_per_request"] = {k: round(v * 1000 / requests, 3) for k, v in cpu.items()}
        return result


def _start_profile(server_pid: int, raw: Path, duration: float) -> subprocess.Popen[bytes]:
    """py-spy on the server's first worker for the run; only samples that hold the GIL
    (Python on the CPU), as collapsed stacks."""
    import psutil

    workers = psutil.Process(server_pid).children(recursive=True)
    target = min(workers, key=lambda p: p.pid).pid if workers else server_pid
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(target),
            "--duration", str(int(duration)), "--rate", "200", "--gil", "--nonblocking",
            "--format", "raw", "--output", str(raw),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def _profile(runner: Runner, *, users: int, duration: float, workdir: Path) -> dict[str, Any]:
    """A mix run of its own under py-spy (its figures are not the benchmark's: sampling
    costs the worker CPU): the flame graph next to the results, and its hottest frames."""
    from bench.flamegraph import read_stacks, render_svg, top_frames

    raw = workdir / "profile.txt"
    runner.run("mix", users=users, duration=duration, profile_to=raw)
    if not raw.exists():
        raise RuntimeError("py-spy wrote no profile")
    stacks = read_stacks(raw.read_text())
    svg = RESULTS.with_name("ehr-profile.svg")
    svg.write_text(render_svg(stacks, title="chartguard EHR worker, practice-day mix (GIL)"))
    return {"flame_graph": svg.name, **top_frames(stacks)}


# --------------------------------------------------------------------------------------------
# figures


def _dig(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def judge(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal with its target, the measured value and whether it was met (a missing
    value is not met)."""
    goals: dict[str, dict[str, Any]] = {}
    for key, (op, target) in GOALS.items():
        value = _dig(result, key)
        met = value is not None and (value >= target if op == ">=" else value <= target)
        goals[key] = {"target": f"{op} {target:g}", "measured": value, "met": bool(met)}
    return goals


def _previous(text: str | None = None) -> dict[str, Any] | None:
    """The headline figures of the results a run replaces (``text``: the file's)."""
    try:
        old = json.loads(RESULTS.read_text() if text is None else text)
    except (OSError, ValueError):
        return None
    kept = {k: old[k] for k in PREVIOUS_KEYS if k in old}
    for run in ("mix", "trivial"):
        if isinstance(old.get(run), dict) and "total" in old[run]:
            kept[f"{run}_rps"] = old[run]["total"].get("rps")
            kept[f"{run}_p99_ms"] = old[run]["total"].get("p99_ms")
    return kept or None


def _monday_peak_rps() -> float:
    from loadtests.profile import load_profile

    return round(load_profile().peak_rate(), 2)


def main() -> dict[str, Any]:
    """Run the benchmark and write ``bench/results/ehr.json``; return what it wrote."""
    duration = float(os.environ.get("CHARTGUARD_BENCH_DURATION", "20"))
    users = int(os.environ.get("CHARTGUARD_BENCH_USERS", "32"))
    workers = int(os.environ.get("CHARTGUARD_BENCH_WORKERS", str(SERVE_DEFAULT_WORKERS)))
    practices = int(os.environ.get("CHARTGUARD_BENCH_PRACTICES", "60"))
    patients = int(os.environ.get("CHARTGUARD_BENCH_PATIENTS", "300"))
    profiling = os.environ.get("CHARTGUARD_BENCH_PROFILE") == "1"
    class_seconds = max(6.0, duration / 2)

    previous = _previous()
    started = time.monotonic()
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="chartguard-bench-") as tmp,
        _stack_postgres() as (dsn, postgres_pids),
    ):
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
            "ehr", "seed", "--db", dsn, "--practices", str(practices),
            "--patients", str(patients), env=env,
        )  # fmt: skip
        with _ehr_server(dsn, workers=workers, env=env) as (url, server_pid):
            runner = Runner(
                url,
                groups={"ehr": [server_pid], "postgres": postgres_pids},
                workdir=Path(tmp),
                practices=practices,
            )
            trivial = runner.run("trivial", users=users, duration=duration)
            mix = runner.run("mix", users=users, duration=duration)
            capacity = mix["total"]["rps"]
            by_class = {
                name: runner.run(f"class:{name}", users=users // 2, duration=class_seconds)
                for name in CLASSES
            }
            paced = runner.run("mix", users=users * 2, duration=duration, rate=0.8 * capacity)
            storm = runner.run("storm", users=users * 2, duration=duration, rate=0.5 * capacity)
            profile = (
                _profile(runner, users=users, duration=duration, workdir=Path(tmp))
                if profiling
                else None
            )
    peak = _monday_peak_rps()
    result: dict[str, Any] = {
        "benchmark": "ehr",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": {
                "before": [round(x, 2) for x in load_before],
                "after": [round(x, 2) for x in os.getloadavg()],
            },
            "note": "the load generator and the servers share these CPUs",
        },
        "database": "PostgreSQL as the local stack runs it: a primary with a hot standby in "
        "sync mode (synchronous_commit = remote_apply), fsync on, shared_buffers 32MB; "
        "the audit trail on",
        "server": {"command": "chartguard ehr serve", "workers": workers, "host": HOST},
        "data": {"practices": practices, "patients_per_practice": patients},
        "load": {"users": users, "seconds_per_run": duration, "user_class": "FastHttpUser"},
        "trivial": trivial,
        "mix": mix,
        "ratio_mix_over_healthz": round(capacity / trivial["total"]["rps"], 3)
        if trivial["total"]["rps"]
        else None,
        "cpu_ms_per_request": mix["cpu_ms_per_request"]["ehr"],
        "postgres_cpu_ms_per_request": mix["cpu_ms_per_request"]["postgres"],
        "cpu_ms_per_request_by_class": {
            name: run["cpu_ms_per_request"]["ehr"] for name, run in by_class.items()
        },
        "postgres_cpu_ms_per_request_by_class": {
            name: run["cpu_ms_per_request"]["postgres"] for name, run in by_class.items()
        },
        "by_class": by_class,
        "paced_80pct": {
            "offered_rps": round(0.8 * capacity, 1),
            "rps": paced["total"]["rps"],
            "p99_ms": paced["total"]["p99_ms"],
            "run": paced,
        },
        "sign_in_storm": {
            "offered_mix_rps": round(0.5 * capacity, 1),
            "read_p99_ms": storm["reads"]["p99_ms"],
            "readyz_worst_ms": storm["readyz"]["worst_ms"],
            "readyz_missed": storm["readyz"]["missed"],
            "refused": storm["sign_in"]["refused_429"],
            "sign_in": storm["sign_in"],
            "run": storm,
        },
        "monday_peak": {"profile": "default", "peak_rps": peak, "capacity_rps": capacity},
        "monday_peak_share_of_capacity": round(peak / capacity, 3) if capacity else None,
        "elapsed_seconds": round(time.monotonic() - started, 1),
    }
    if profile is not None:
        result["profile"] = profile
    result["goals"] = judge(result)
    result["previous"] = previous
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = RESULTS.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    tmp_out.replace(RESULTS)
    return result


if __name__ == "__main__":
    main()
