"""Fixtures for the SLO, rules and gate tests: real promtool, Prometheus and Alertmanager.

Servers run on free loopback ports in temp directories, each in its own process group,
and are killed (group and all) when the fixture ends, also when the test failed.
Synthetic data reaches Prometheus the way real history does: OpenMetrics backfilled into
its TSDB with ``promtool tsdb create-blocks-from openmetrics`` before it starts.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from monitoring.prometheus_config import ScrapeJob, generate_prometheus_config
from monitoring.slo import SLOSpec, load_spec

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
AMTOOL = shutil.which("amtool")
CHARTGUARD = str(Path(sys.executable).with_name("chartguard"))
SEED_PASSWORD = "chartguard-seed-password-test"  # synthetic data only


@pytest.fixture(scope="session")
def spec() -> SLOSpec:
    return load_spec()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"{url}: process exited {proc.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server's whole process group; kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    workdir: Path


@dataclass
class Servers:
    """Starts servers for one test (or module) and stops every one of them at the end."""

    tmp: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, argv: list[str], log: Path, *, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.started.append(proc)
        return proc

    def prometheus(
        self,
        *,
        spec: SLOSpec,
        jobs: list[ScrapeJob] | None = None,
        rule_files: list[str] | None = None,
        openmetrics: str | None = None,
        name: str = "prometheus",
        profile: str = "standard",
        alertmanagers: list[str] | None = None,
    ) -> Server:
        """A real Prometheus, optionally with backfilled OpenMetrics history."""
        workdir = self.tmp / name
        data = workdir / "data"
        data.mkdir(parents=True)
        if openmetrics is not None:
            source = workdir / "history.om"
            source.write_text(openmetrics)
            subprocess.run(
                [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                check=True, capture_output=True, timeout=120,
            )
        config = generate_prometheus_config(
            spec, jobs=jobs or [], rule_files=rule_files or [], profile=profile,
            alertmanagers=alertmanagers or [],
        )
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        log = workdir / "prometheus.log"
        proc = self._spawn(
            [
                PROMETHEUS,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=30d",
            ],
            log,
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/-/ready", proc, log)
        return Server(url=url, proc=proc, workdir=workdir)

    def status_service(self, *, name: str = "status") -> Server:
        """The real status service (its own SQLite, no regions to probe, SRE token set)."""
        workdir = self.tmp / name
        workdir.mkdir(parents=True)
        port = free_port()
        log = workdir / "status.log"
        env = {**os.environ, "CHARTGUARD_STATUS_TOKEN": "monitoring-tests-status-token-0123456789"}
        # cwd is the temp dir and the stack does not exist there: nothing else gets probed
        proc = self._spawn([CHARTGUARD, "statuspage", "serve", "--host", "127.0.0.1", "--port",
                            str(port), "--db", str(workdir / "status.db"), "--stack", "none"],
                           log, cwd=workdir, env=env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v1/summary", proc, log)
        return Server(url=url, proc=proc, workdir=workdir)

    def router(self, backend_url: str, *, name: str = "router") -> tuple[Server, str]:
        """A real HAProxy: frontend ``fe_ehr`` -> backend ``be_ehr`` (one server ``east``),
        with its built-in Prometheus exporter. Returns the router and its metrics URL."""
        workdir = self.tmp / name
        workdir.mkdir(parents=True)
        port, stats = free_port(), free_port()
        server = backend_url.removeprefix("http://")
        (workdir / "haproxy.cfg").write_text(f"""\
global
  log stdout local0 warning
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend stats
  bind 127.0.0.1:{stats}
  http-request use-service prometheus-exporter if {{ path /metrics }}
frontend fe_ehr
  bind 127.0.0.1:{port}
  default_backend be_ehr
backend be_ehr
  server east {server}
""")
        log = workdir / "haproxy.log"
        proc = self._spawn([HAPROXY, "-db", "-f", str(workdir / "haproxy.cfg")], log)
        metrics = f"http://127.0.0.1:{stats}/metrics"
        wait_http(metrics, proc, log)
        return Server(url=f"http://127.0.0.1:{port}", proc=proc, workdir=workdir), metrics

    def alertmanager(self, config_text: str, *, name: str = "alertmanager") -> Server:
        """A real Alertmanager (clustering off) with the given configuration."""
        workdir = self.tmp / name
        workdir.mkdir(parents=True)
        (workdir / "alertmanager.yml").write_text(config_text)
        port = free_port()
        log = workdir / "alertmanager.log"
        proc = self._spawn(
            [
                ALERTMANAGER,
                f"--config.file={workdir / 'alertmanager.yml'}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            log,
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/-/ready", proc, log)
        return Server(url=url, proc=proc, workdir=workdir)

    def ehr(self, *, region: str = "east", name: str = "ehr") -> tuple[Server, Path]:
        """The real EHR app (uvicorn, one process) on SQLite with a seeded practice.

        Returns the server and its database file (tests inject faults through it).
        """
        workdir = self.tmp / name
        workdir.mkdir(parents=True)
        db_path = workdir / "ehr.db"
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env |= {"CHARTGUARD_DB_URL": f"sqlite:///{db_path}", "CHARTGUARD_REGION": region,
                "CHARTGUARD_SEED_PASSWORD": SEED_PASSWORD}
        subprocess.run([CHARTGUARD, "ehr", "seed", "--practices", "1", "--patients", "20"],
                       cwd=workdir, env=env, check=True, capture_output=True, timeout=180)
        port = free_port()
        log = workdir / "ehr.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "ehr_core.app:create_app",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/readyz", proc, log, timeout=60)
        return Server(url=url, proc=proc, workdir=workdir), db_path

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            stop(proc)


def login(url: str) -> dict[str, str]:
    """Bearer headers for the seeded practice's owner."""
    response = httpx.post(f"{url}/api/v1/auth/login", timeout=30,
                          json={"email": "owner@practice-0000.test", "password": SEED_PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def drive(
    url: str,
    headers: dict[str, str],
    seconds: float,
    threads: int = 2,
    on_status: Callable[[int, float], None] | None = None,
) -> Counter[int]:
    """GET the patient list and today's schedule from ``threads`` threads for ``seconds``.

    Loopback only and bounded in time; returns how often each status came back (0 for a
    transport error). ``on_status(status, unix_time)`` sees every answer as it arrives.
    """
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    paths = ["/api/v1/patients?page=1&page_size=5",
             f"/api/v1/schedule?date={time.strftime('%Y-%m-%d', time.gmtime())}"]

    def worker() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            i = 0
            while time.monotonic() < deadline:
                try:
                    status = client.get(paths[i % 2]).status_code
                except httpx.HTTPError:
                    status = 0
                with lock:
                    statuses[status] += 1
                if on_status is not None:
                    on_status(status, time.time())
                i += 1
                time.sleep(0.02)  # a practice's pace, not a flood: the 2 cores are shared

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=seconds + 60)
    return statuses


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    s = Servers(tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    s = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield s
    finally:
        s.stop_all()


# -- synthetic history --------------------------------------------------------------------

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Phase:
    """A stretch of synthetic traffic for one region: rates per second and latency."""

    seconds: int
    rps: float
    error_ratio: float = 0.0
    latency: float = 0.05  # mean seconds; every observation lands in latency's bucket
    lag: float = 0.2  # replication lag gauge


def openmetrics_history(
    start: float,
    regions: dict[str, list[Phase]],
    *,
    step: int = 5,
    seed: int = 7,
    idle_regions: tuple[str, ...] = (),
    client: tuple[str, float] | None = None,
) -> str:
    """OpenMetrics text of the EHR's metrics for ``regions``, one sample every ``step`` s.

    Request counts and mean latency get seeded noise (so statistics have something to
    chew on); 5xx answers are 503s of POST requests, as a read-only region gives.
    ``idle_regions`` export the metrics without serving anything (a standby).
    ``client=(region, since)``: the load generator's own metrics (``chartguard_load_*``)
    see that region's traffic from ``since`` on (the generator started then).
    """
    rng = random.Random(seed)
    route = 'route="/api/v1/patients"'
    counters: dict[str, list[tuple[float, float]]] = {}
    hist: dict[str, list[tuple[float, float]]] = {}
    gauges: dict[str, list[tuple[float, float]]] = {}
    load: dict[str, list[tuple[float, float]]] = {}

    def add(store: dict[str, list[tuple[float, float]]], key: str, t: float, inc: float) -> None:
        series = store.setdefault(key, [])
        last = series[-1][1] if series else 0.0
        series.append((t, last + inc))

    for region, phases in {**regions, **{r: [] for r in idle_regions}}.items():
        t = start
        plan = phases or [Phase(seconds=int(sum(p.seconds for p in next(iter(regions.values())))),
                                rps=0.0)]
        for phase in plan:
            for _ in range(phase.seconds // step):
                t += step
                n = max(0, round(phase.rps * step * rng.uniform(0.8, 1.2)))
                bad = round(n * phase.error_ratio)
                ok_key = f'{{region="{region}",{route},method="GET",status="200"}}'
                bad_key = f'{{region="{region}",{route},method="POST",status="503"}}'
                add(counters, ok_key, t, n - bad)
                if phase.error_ratio > 0 or bad_key in counters:
                    add(counters, bad_key, t, bad)
                hkey = f'region="{region}",{route},method="GET"'
                mean = phase.latency * rng.uniform(0.9, 1.1)
                for le in (*BUCKETS, float("inf")):
                    le_text = "+Inf" if le == float("inf") else repr(le)
                    add(hist, f'_bucket{{{hkey},le="{le_text}"}}', t, n if mean <= le else 0)
                add(hist, f"_count{{{hkey}}}", t, n)
                add(hist, f"_sum{{{hkey}}}", t, n * mean)
                series = gauges.setdefault(f'{{region="{region}"}}', [])
                series.append((t, phase.lag))
                if client is not None and region == client[0] and t >= client[1]:
                    labels = 'endpoint="/api/v1/patients",method="GET",class="read"'
                    add(load, f'_total{{{labels},outcome="ok"}}', t, n - bad)
                    add(load, f'_total{{{labels},outcome="error"}}', t, bad)
                    for le in (*BUCKETS, float("inf")):
                        le_text = "+Inf" if le == float("inf") else repr(le)
                        add(load, f'_duration_seconds_bucket{{class="read",le="{le_text}"}}', t,
                            n if mean <= le else 0)
                    add(load, '_duration_seconds_count{class="read"}', t, n)
                    add(load, '_duration_seconds_sum{class="read"}', t, n * mean)
    lines = ["# TYPE chartguard_http_requests counter"]
    for key, points in counters.items():
        lines += [f"chartguard_http_requests_total{key} {v:g} {ts:.0f}" for ts, v in points]
    lines.append("# TYPE chartguard_http_request_duration_seconds histogram")
    for key, points in hist.items():
        lines += [f"chartguard_http_request_duration_seconds{key} {v:.6f} {ts:.0f}"
                  for ts, v in points]
    lines.append("# TYPE chartguard_replication_lag_seconds gauge")
    for key, points in gauges.items():
        lines += [f"chartguard_replication_lag_seconds{key} {v:g} {ts:.0f}" for ts, v in points]
    if load:
        lines.append("# TYPE chartguard_load_requests counter")
        lines += [f"chartguard_load_requests{key} {v:g} {ts:.0f}"
                  for key, points in load.items() if key.startswith("_total")
                  for ts, v in points]
        lines.append("# TYPE chartguard_load_request_duration_seconds histogram")
        lines += [f"chartguard_load_request{key} {v:.6f} {ts:.0f}"
                  for key, points in load.items() if key.startswith("_duration")
                  for ts, v in points]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def promtool() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=cwd,
                              timeout=120)

    return run
