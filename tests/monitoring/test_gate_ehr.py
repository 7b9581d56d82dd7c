"""The gate against a real Prometheus scraping a real EHR (SQLite) behind a real HAProxy.

The EHR runs as its ASGI app under uvicorn in its own process, behind HAProxy (frontend
``fe_ehr``); Prometheus scrapes the EHR's /metrics and HAProxy's exporter every second; a
bounded request loop (two threads, loopback only) drives it through the router.
Clean traffic passes the gate. Then a real fault: the test holds SQLite's write lock, every
request the EHR serves meanwhile waits out its busy timeout and fails with a 5xx, and the
same gate fails.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from monitoring.cli import gate, slo
from monitoring.prometheus_config import ScrapeJob
from monitoring.promql import PrometheusClient
from tests.monitoring.conftest import Server, drive, login

pytestmark = [pytest.mark.integration]

@pytest.fixture(scope="module")
def ehr(module_servers) -> tuple[Server, Path]:
    return module_servers.ehr(region="east")


@pytest.fixture(scope="module")
def router(module_servers, ehr) -> tuple[Server, str]:
    server, _ = ehr
    return module_servers.router(server.url)


@pytest.fixture(scope="module")
def prometheus(module_servers, spec, ehr, router) -> Server:
    server, _ = ehr
    rules = module_servers.tmp / "rules"
    rules.mkdir()
    jobs = [ScrapeJob.from_url("ehr-east", server.url), ScrapeJob.from_url("router", router[1])]
    return module_servers.prometheus(spec=spec, jobs=jobs, rule_files=[str(rules / "*.yml")],
                                     name="scraper", profile="compressed")


def firing(prometheus_url: str, start: float, end: float, alert: str, severity: str) -> list:
    """The series of ``alert`` firing at any second between ``start`` and ``end``."""
    query = f'ALERTS{{alertname="{alert}",severity="{severity}",alertstate="firing"}}'
    with PrometheusClient(prometheus_url) as client:
        return client.range(query, start=start, end=end, step=1)


SPEC = Path(__file__).resolve().parents[2] / "monitoring" / "slo.yaml"


def gate_window(prometheus_url: str, start: float, end: float, out: Path) -> int:
    time.sleep(3)  # let Prometheus scrape the window's last counts
    # The latency objective at 2.5 s instead of 500 ms: this test is about the gate on a real
    # EHR, not about how fast a shared 2-core CI machine serves it (bench/ measures speed).
    spec = out.parent / "slo-ci.yaml"
    spec.write_text(SPEC.read_text().replace("threshold: 500ms", "threshold: 2500ms"))
    result = CliRunner().invoke(gate, ["--prometheus", prometheus_url, "--profile", "compressed",
                                       "--window", f"{start:.3f}..{end:.3f}", "--json", str(out),
                                       "--spec", str(spec)])
    return result.exit_code


def test_clean_load_passes_then_a_database_fault_fails(ehr, router, prometheus, tmp_path):
    _, db_path = ehr
    server, _ = router  # users reach the EHR through the router, as in the stack
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
    assert "via router" in checks["availability overall"]["detail"]  # the edge, as users see it
    assert checks["availability region east"]["status"] == "pass"
    assert checks["latency overall"]["status"] == "pass"
    assert checks["latency overall"]["threshold"] == 0.99
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
