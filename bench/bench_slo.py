"""SLO alerting and gate benchmark on real servers (loopback only, bounded, self-cleaning).

A real EHR (SQLite) under a light request loop, scraped every second by a real Prometheus
running the ``compressed`` rules, with a real Alertmanager (notifying a closed port). The
fault: SQLite's write lock is held, so the EHR's requests fail with 5xx for real. Measured:

* ``first_5xx_to_firing_s``: the first 5xx a client saw -> the page alert firing in Prometheus;
* ``first_5xx_to_alertmanager_s``: ... -> the alert active in Alertmanager;
* ``gate_seconds_clean`` / ``gate_seconds_fault``: wall time of one gate evaluation (all checks)
  of the clean and the faulty window, with their outcomes (expected pass, then fail).

Writes ``bench/results/slo.json``. Target: the alert within 30 s of the first user-visible
error (the practice-notice budget in DESIGN.md), here it should take a few seconds.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from monitoring.gate import Gate, GateRequest, TimeWindow
from monitoring.install import install
from monitoring.prometheus_config import ScrapeJob
from monitoring.promql import PrometheusClient
from monitoring.slo import load_spec
from tests.monitoring.conftest import Servers, drive, free_port, login

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "slo.json"
TARGET_SECONDS = 30.0
ALERT = "AvailabilityBudgetBurn"


def _firing_in_prometheus(url: str) -> bool:
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return any(a["labels"].get("alertname") == ALERT and a["labels"].get("severity") == "page"
               and a["state"] == "firing" for a in alerts)


def _active_in_alertmanager(url: str) -> bool:
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return any(a["labels"].get("alertname") == ALERT and a["labels"].get("severity") == "page"
               for a in alerts)


def _gate(url: str, start: float, end: float) -> tuple[float, str]:
    spec = load_spec()
    began = time.monotonic()
    with PrometheusClient(url) as client:
        result = Gate(client=client, spec=spec).evaluate(
            GateRequest(window=TimeWindow(start, end), profile="compressed"))
    return time.monotonic() - began, result.outcome.value


def main() -> dict[str, Any]:
    spec = load_spec()
    with tempfile.TemporaryDirectory(prefix="bench-slo-") as tmp:
        servers = Servers(Path(tmp))
        try:
            ehr, db_path = servers.ehr(region="east")
            stack = Path(tmp) / "stack"
            nowhere = f"http://127.0.0.1:{free_port()}/hook"
            am = servers.alertmanager("route: {receiver: x}\nreceivers: [{name: x}]\n",
                                      name="stack/alertmanager")
            prom = servers.prometheus(
                spec=spec, jobs=[ScrapeJob.from_url("ehr-east", ehr.url)], name="stack/prometheus",
                rule_files=[str(stack / "prometheus" / "rules" / "*.yml")], profile="compressed",
                alertmanagers=[am.url])
            install(spec, stack_dir=stack, profile="compressed", webhook_url=nowhere,
                    prometheus_url=prom.url, alertmanager_url=am.url)
            headers = login(ehr.url)
            time.sleep(2)
            clean_start = time.time()
            drive(ehr.url, headers, seconds=8)
            clean_end = time.time()
            time.sleep(3)
            gate_clean = _gate(prom.url, clean_start, clean_end)

            first_5xx: list[float] = []

            def seen(status: int, at: float) -> None:
                if status >= 500 and not first_5xx:
                    first_5xx.append(at)

            fault_start = time.time()
            connection = sqlite3.connect(db_path, timeout=5, isolation_level=None)
            holder: sqlite3.Connection | None = connection
            try:
                connection.execute("BEGIN IMMEDIATE")
                load = threading.Thread(
                    target=lambda: drive(ehr.url, headers, seconds=40, on_status=seen))
                load.start()
                fired = alerted = None
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and (fired is None or alerted is None):
                    if first_5xx and holder is not None:
                        holder.execute("ROLLBACK")  # the errors happened: end the fault
                        holder.close()
                        holder = None
                    if first_5xx and fired is None and _firing_in_prometheus(prom.url):
                        fired = time.time()
                    if first_5xx and alerted is None and _active_in_alertmanager(am.url):
                        alerted = time.time()
                    time.sleep(0.1)
            finally:
                if holder is not None:
                    holder.execute("ROLLBACK")
                    holder.close()
            load.join(timeout=90)
            fault_end = time.time()
            time.sleep(3)
            gate_fault = _gate(prom.url, fault_start, fault_end)
        finally:
            servers.stop_all()
    result: dict[str, Any] = {
        "name": "slo",
        "first_5xx_to_firing_s": round(fired - first_5xx[0], 2) if fired and first_5xx else None,
        "first_5xx_to_alertmanager_s": (
            round(alerted - first_5xx[0], 2) if alerted and first_5xx else None),
        "gate_seconds_clean": round(gate_clean[0], 3),
        "gate_outcome_clean": gate_clean[1],
        "gate_seconds_fault": round(gate_fault[0], 3),
        "gate_outcome_fault": gate_fault[1],
        "target_seconds": TARGET_SECONDS,
        "method": "real EHR (uvicorn, SQLite) + Prometheus 1s scrape, compressed rules evaluated "
                  "every 1s + Alertmanager; fault = SQLite write lock held until the first 5xx",
    }
    result["ok"] = (result["first_5xx_to_alertmanager_s"] is not None
                    and result["first_5xx_to_alertmanager_s"] <= TARGET_SECONDS
                    and gate_clean[1] == "pass" and gate_fault[1] == "fail")
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
