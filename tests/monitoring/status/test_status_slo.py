"""The SLO panel against a real Prometheus scraping a real EHR."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.monitoring.status.payloads import TOKEN
from tests.monitoring.status.servers import ehr_argv, free_port, server, status_service_argv

pytestmark = pytest.mark.integration

PROMETHEUS = "/usr/bin/prometheus"


def test_slo_panel_reads_prometheus(tmp_path: Path) -> None:
    from ehr_core import Settings
    from ehr_core.migrate import upgrade

    settings = Settings(db_url=f"sqlite:///{tmp_path / 'ehr.db'}", region="east",
                        audit_spool_path=str(tmp_path / "spool.jsonl"))
    upgrade(settings)
    ehr_port, prom_port, status_port = free_port(), free_port(), free_port()
    ehr_url = f"http://127.0.0.1:{ehr_port}"
    prom_url = f"http://127.0.0.1:{prom_port}"
    status_url = f"http://127.0.0.1:{status_port}"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: ehr\n    static_configs: [{{targets: ['127.0.0.1:{ehr_port}']}}]\n")
    prom_argv = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"]
    env = {"CHARTGUARD_DB_URL": settings.db_url, "CHARTGUARD_REGION": "east",
           "CHARTGUARD_AUDIT_SPOOL_PATH": settings.audit_spool_path}
    argv = status_service_argv(port=status_port, db=tmp_path / "status.db")
    argv += ["--prometheus-url", prom_url]
    with server(ehr_argv(port=ehr_port), ready_url=f"{ehr_url}/healthz",
                log=tmp_path / "ehr.log", env=env), \
            server(prom_argv, ready_url=f"{prom_url}/-/ready", log=tmp_path / "prom.log"), \
            server(argv, ready_url=f"{status_url}/healthz", log=tmp_path / "status.log",
                   env={"CHARTGUARD_STATUS_TOKEN": TOKEN,
                        "CHARTGUARD_STATUS_SLO_CACHE_SECONDS": "0.5"}), \
            httpx.Client(timeout=5) as http:
        # Real traffic: good answers and client errors (4xx are not bad events).
        deadline = time.monotonic() + 30
        slo: dict = {}
        while time.monotonic() < deadline:
            http.get(f"{ehr_url}/api/v1/notice")
            http.get(f"{ehr_url}/api/v1/schedule", params={"date": "2025-01-01"})  # 401
            slo = http.get(f"{status_url}/api/v1/summary").json()["slo"]
            if slo["availability_24h"] is not None:
                break
            time.sleep(0.5)
        raw = http.get(f"{prom_url}/api/v1/query",
                       params={"query": "chartguard_http_requests_total"}).json()
        assert raw["data"]["result"], raw
        assert slo["objective"] == 0.999
        assert slo["error"] is None, slo
        assert slo["availability_24h"] == 1.0
        assert slo["error_budget_remaining"] == 1.0
        assert slo["burn_rate_1h"] == 0.0
        page = http.get(f"{status_url}/").text
        assert "100.000%" in page
