"""The gate against a real Prometheus scraping a real EHR (SQLite) under a short load.

The EHR runs as its ASGI app under uvicorn in its own process; Prometheus scrapes its
/metrics every second; a bounded request loop (two threads, loopback only) drives it.
Clean traffic passes the gate. Then a real fault: the test holds SQLite's write lock, every
request the EHR serves meanwhile waits out its busy timeout and fails with a 5xx, and the
same gate fails.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from monitoring.cli import gate, slo
from monitoring.prometheus_config import ScrapeJob
from monitoring.promql import PrometheusClient
from tests.monitoring.conftest import Server, free_port, wait_http

pytestmark = [pytest.mark.integration]

CG = str(Path(sys.executable).with_name("chartguard"))
SEED_PASSWORD = "chartguard-seed-password-test"


@pytest.fixture(scope="module")
def ehr(module_servers) -> Iterator[tuple[Server, Path]]:
    workdir = module_servers.tmp / "ehr"
    workdir.mkdir()
    db_path = workdir / "ehr.db"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"CHARTGUARD_DB_URL": f"sqlite:///{db_path}", "CHARTGUARD_REGION": "east",
            "CHARTGUARD_SEED_PASSWORD": SEED_PASSWORD}
    subprocess.run([CG, "ehr", "seed", "--practices", "1", "--patients", "20"], cwd=workdir,
                   env=env, check=True, capture_output=True, timeout=180)
    port = free_port()
    log = workdir / "ehr.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "ehr_core.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    module_servers.started.append(proc)  # stopped (process group) with the module
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/readyz", proc, log, timeout=60)
    return Server(url=url, proc=proc, workdir=workdir), db_path


@pytest.fixture(scope="module")
def prometheus(module_servers, spec, ehr) -> Server:
    server, _ = ehr
    rules = module_servers.tmp / "rules"
    rules.mkdir()
    return module_servers.prometheus(spec=spec, jobs=[ScrapeJob.from_url("ehr-east", server.url)],
                                     rule_files=[str(rules / "*.yml")], name="scraper",
                                     profile="compressed")


def firing(prometheus_url: str, start: float, end: float, alert: str, severity: str) -> list:
    """The series of ``alert`` firing at any second between ``start`` and ``end``."""
    query = f'ALERTS{{alertname="{alert}",severity="{severity}",alertstate="firing"}}'
    with PrometheusClient(prometheus_url) as client:
        return client.range(query, start=start, end=end, step=1)


def login(url: str) -> dict[str, str]:
    response = httpx.post(f"{url}/api/v1/auth/login", timeout=30,
                          json={"email": "owner@practice-0000.test", "password": SEED_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def drive(url: str, headers: dict[str, str], seconds: float, threads: int = 2) -> Counter[int]:
    """GET the patient list and today's schedule from ``threads`` threads for ``seconds``."""
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
                i += 1
                time.sleep(0.02)  # a practice's pace, not a flood: keeps the 2 cores shared

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=seconds + 60)
    return statuses


def gate_window(prometheus_url: str, start: float, end: float, out: Path) -> int:
    time.sleep(3)  # let Prometheus scrape the window's last counts
    result = CliRunner().invoke(gate, ["--prometheus", prometheus_url, "--profile", "compressed",
                                       "--window", f"{start:.3f}..{end:.3f}", "--json", str(out)])
    return result.exit_code


def test_clean_load_passes_then_a_database_fault_fails(ehr, prometheus, tmp_path):
    server, db_path = ehr
    # the compressed rules, written and loaded the way an operator does it
    rules = CliRunner().invoke(slo, ["rules", "--out", str(prometheus.workdir.parent / "rules"),
                                     "--profile", "compressed", "--reload", prometheus.url])
    assert rules.exit_code == 0, rules.output
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert sorted(g["name"] for g in groups) == [
        "chartguard-slo-availability", "chartguard-slo-latency"]
    time.sleep(2)  # a first scrape before the load: rate() needs a starting point
    headers = login(server.url)
    start = time.time()
    statuses = drive(server.url, headers, seconds=10)
    end = time.time()
    assert statuses and set(statuses) == {200}, statuses
    out = tmp_path / "pass.json"
    code = gate_window(prometheus.url, start, end, out)
    checks = {c["check"]: c for c in json.loads(out.read_text())["checks"]}
    assert code == 0, json.dumps(checks, indent=1)
    assert checks["availability overall"]["value"] == 1.0
    assert checks["availability region east"]["status"] == "pass"
    assert checks["latency overall"]["status"] == "pass"
    assert not firing(prometheus.url, start, end, "AvailabilityBudgetBurn", "page")

    # the fault: hold SQLite's write lock; the EHR's transactions wait out their busy
    # timeout and fail with a 5xx, for real
    start = time.time()
    holder = sqlite3.connect(db_path, timeout=5, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        results: list[Counter[int]] = []
        load = threading.Thread(
            target=lambda: results.append(drive(server.url, headers, seconds=20))
        )
        load.start()
        time.sleep(17)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    load.join(timeout=90)
    end = time.time()
    statuses = results[0]
    assert any(s >= 500 for s in statuses), statuses
    out = tmp_path / "fail.json"
    code = gate_window(prometheus.url, start, end, out)
    checks = {c["check"]: c for c in json.loads(out.read_text())["checks"]}
    assert code == 1, json.dumps(checks, indent=1)
    assert checks["availability overall"]["status"] == "fail"
    assert checks["availability region east"]["status"] == "fail", json.dumps(checks, indent=1)
    # and the compressed burn-rate rules paged on the same real errors, edge and region
    paged = firing(prometheus.url, start, time.time(), "AvailabilityBudgetBurn", "page")
    assert {s.labels["component"] for s in paged} == {"edge", "app"}, paged
