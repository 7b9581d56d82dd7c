"""Load generator benchmark: generator capacity, and the local EHR's step-capacity knee.

``main()`` measures

* ``generator``: requests per CPU-second one Locust process makes, CPU-bound, with bare
  Locust users and with chartguard's practice users against the same target (HAProxy
  answering canned EHR JSON from files, never the limit), their ratio, and what two bare
  processes make together (this machine has two cores): how many ``--workers`` a profile
  needs (``chartguard load run --help`` quotes it);
* ``knee``: ``chartguard load run --shape step-capacity`` against a local EHR (SQLite,
  seeded with 3 practices): users and requests/s at the last step that held the SLO.

Writes ``bench/results/load.json``. Every process (HAProxy, the EHR, the load runs) runs
on 127.0.0.1 in its own process group and is stopped in a ``finally``. Locust patches its
interpreter, so every Locust run is a child process. Knobs: ``CHARTGUARD_BENCH_LOAD_SECONDS``
(probe length, default 12), ``CHARTGUARD_BENCH_LOAD_TIME_SCALE`` (step-capacity clock,
default 15: 20 s steps, judged after their first 6 s).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "load.json"
CHARTGUARD = [sys.executable, "-m", "runbooks.cli"]
HAPROXY = "/usr/sbin/haproxy"

# A profile whose steps (a quarter of it each, up to 4x) cross a 2-core EHR's capacity:
# peak 36.6 requests/s from 27 people; step-capacity goes up to 146 requests/s.
KNEE_PROFILE = {
    "name": "bench-knee",
    "practices": 3,
    "people": {"front_desk": 4, "clinician": 4, "owner": 1},
    "seeded_people": {"front_desk": 2, "clinician": 1, "owner": 1},
    "actions_per_hour": {"front_desk": 2700, "clinician": 2700, "owner": 360},
    "monday_peak_factor": 2.0,
    # A bulk export holds SQLite's write lock for seconds; the knee is the request mix's.
    "task_mix": {"owner": {"export": 0}},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _spawn(argv: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f}s")


def _probe(
    target: str, seconds: float, processes: int, *, kind: str = "bare", users: int = 100
) -> dict[str, Any]:
    runs = [
        subprocess.Popen(
            [*CHARTGUARD, "load", "probe", "--target", target, "--seconds", str(seconds),
             "--kind", kind, "--users", str(users)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        for _ in range(processes)
    ]
    results = []
    try:
        for run in runs:
            out, _ = run.communicate(timeout=seconds + 60)
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for run in runs:
            if run.poll() is None:
                _stop(run)
    return {
        "processes": processes,
        "requests_per_second": round(sum(r["requests_per_second"] for r in results), 1),
        "per_process": results,
    }


# Canned EHR answers, enough for every task of the practice users (loadtests/users.py).
_ITEM = '{"id": 1, "patient_id": 1, "provider_id": 1, "status": "booked", "version": 1}'
CANNED = {
    "login.json": '{"token": "probe", "expires_at": "2031-01-01T00:00:00Z", "read_only": false,'
    ' "user": {"id": 1, "role": "clinician", "practice_id": 1}, "region": "probe"}',
    "schedule.json": '{"date": "2031-01-01", "timezone": "UTC", "provider_id": null, "items": ['
    + ", ".join(_ITEM.replace('"id": 1', f'"id": {i}') for i in range(1, 21))
    + "]}",
    "page.json": '{"items": [{"id": 1}, {"id": 2}, {"id": 3}], "total": 3, "page": 1,'
    ' "page_size": 20}',
    "item.json": _ITEM,
    "empty.json": "{}",
}


def _canned_config(work: Path, port: int) -> Path:
    """HAProxy answering as the EHR would, from files: a target that is never the limit."""
    for name, body in CANNED.items():
        (work / name).write_text(body)
    json_reply = "http-request return status {status} content-type application/json file {file}"
    rules = [
        (200, "login.json", "{ path /api/v1/auth/login }"),
        (200, "schedule.json", "{ path_beg /api/v1/schedule }"),
        (202, "empty.json", "{ path_end /$export }"),
        (200, "item.json", "{ method POST PATCH PUT }"),
        (200, "page.json", "{ path /api/v1/patients } || { path_end /labs /medications }"),
        (200, "item.json", ""),
    ]
    lines = [
        "global\n  maxconn 4000",
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s",
        f"frontend canned\n  bind 127.0.0.1:{port}",
        *(
            "  " + json_reply.format(status=status, file=work / file) + (f" if {c}" if c else "")
            for status, file, c in rules
        ),
    ]
    config = work / "canned.cfg"
    config.write_text("\n".join(lines) + "\n")
    return config


def _generator(work: Path, seconds: float) -> dict[str, Any]:
    """Requests per CPU-second of one generator process, CPU-bound, with bare Locust and
    with chartguard's practice users, against the same canned target; and what two bare
    processes make together (this machine has two cores)."""
    port = _free_port()
    haproxy = _spawn([HAPROXY, "-f", str(_canned_config(work, port)), "-db"], work / "haproxy.log")
    try:
        target = f"http://127.0.0.1:{port}"
        _wait_http(target + "/healthz", haproxy)
        bare = _probe(target, seconds, 1, kind="bare", users=100)["per_process"][0]
        practice = _probe(target, seconds, 1, kind="practice", users=150)["per_process"][0]
        two = _probe(target, seconds, 2, kind="bare", users=100)
    finally:
        _stop(haproxy)
    ratio = (
        round(practice["requests_per_cpu_second"] / bare["requests_per_cpu_second"], 3)
        if bare["requests_per_cpu_second"]
        else None
    )
    return {
        "endpoint": "HAProxy answering canned EHR JSON from files (never the limit)",
        "bare": {**bare, "cpu_bound": bare["cpu_percent"] >= 90},
        "practice": {**practice, "cpu_bound": practice["cpu_percent"] >= 90},
        "practice_over_bare_per_cpu_second": ratio,
        "goal": {"target": ">= 0.5", "met": ratio is not None and ratio >= 0.5},
        "one_process_rps": bare["requests_per_second"],
        "two_processes_rps": two["requests_per_second"],
        "runs": [two],
    }


def _knee(work: Path, time_scale: float) -> dict[str, Any]:
    db = work / "ehr.db"
    subprocess.run(
        [*CHARTGUARD, "ehr", "seed", "--practices", "3", "--patients", "300",
         "--db", f"sqlite:///{db}"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    profile = work / "knee.yaml"
    profile.write_text(yaml.safe_dump(KNEE_PROFILE))
    port = _free_port()
    ehr = _spawn(
        [*CHARTGUARD, "ehr", "serve", "--port", str(port), "--db", f"sqlite:///{db}"],
        work / "ehr.log", cwd=work,
    )  # fmt: skip
    try:
        target = f"http://127.0.0.1:{port}"
        _wait_http(target + "/readyz", ehr)
        run = _spawn(
            [*CHARTGUARD, "load", "run", "--profile", str(profile), "--shape", "step-capacity",
             "--target", target, "--time-scale", str(time_scale), "--quiet",
             "--slo", str(ROOT / "monitoring" / "slo.yaml"), "--out", str(work / "knee")],
            work / "knee.log", cwd=work,
        )  # fmt: skip
        try:
            run.wait(timeout=16 * 300 / time_scale + 180)
        finally:
            _stop(run)
    finally:
        _stop(ehr)
    summary = json.loads((work / "knee" / "summary.json").read_text())
    capacity = summary.get("capacity") or {}
    return {
        "database": "sqlite",
        "note": "owner exports off: on SQLite an export holds the write lock for seconds",
        "ehr_workers": "chartguard ehr serve default",
        "profile_peak_rps": summary["profile"]["peak_rate_rps"],
        "knee": capacity.get("knee"),
        "broke_at": capacity.get("broke_at"),
        "generator_limited": capacity.get("generator_limited"),
        "verdict": summary["verdict"],
        "steps": capacity.get("steps", []),
    }


def main() -> dict[str, Any]:
    seconds = float(os.environ.get("CHARTGUARD_BENCH_LOAD_SECONDS", "12"))
    time_scale = float(os.environ.get("CHARTGUARD_BENCH_LOAD_TIME_SCALE", "15"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chartguard-bench-load-") as tmp:
        work = Path(tmp)
        result: dict[str, Any] = {
            "benchmark": "load",
            "host_cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg()[0],
            "generator": _generator(work, seconds),
            "knee": _knee(work, time_scale),
        }
    result["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
