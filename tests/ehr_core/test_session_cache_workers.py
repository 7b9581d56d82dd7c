"""A logout, a disable, a password change: refused by every worker of a real server.

``chartguard ehr serve --workers 2`` on a real PostgreSQL. Which worker answers a new
connection is the kernel's choice, so the test reads the workers' own metric files
(``PROMETHEUS_MULTIPROC_DIR``, one per worker pid) to know that both cached the session
before the change, and that both have answered after it: every one of those answers is
401, on the first request each worker gets.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.ehr_core.conftest import PASSWORD, WORLD_DB, _pg_copy
from tests.ehr_core.test_serve import wait_ready, with_group
from tests.support.postgres import PostgresCluster, free_port

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
CHART_ROUTE = "/api/v1/patients/{patient_id}/chart"


class Served:
    def __init__(self, url: str, metrics_dir: Path) -> None:
        self.url = url
        self.metrics_dir = metrics_dir

    def charts_by_worker(self) -> dict[str, float]:
        """Chart answers counted by each worker (pid) so far, from its metric file."""
        counts: dict[str, float] = {}
        for path in self.metrics_dir.glob("counter_*.db"):
            pid = path.stem.removeprefix("counter_")
            try:  # read, never mapped: a file its worker is still creating must not be touched
                values = list(MmapedDict.read_all_values_from_file(str(path)))
            except (OSError, struct.error):
                continue  # created a moment ago and still empty: no answer counted yet
            for key, value, *_rest in values:
                if CHART_ROUTE in key and "chartguard_http_requests_total" in key:
                    counts[pid] = counts.get(pid, 0.0) + value
        return counts

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        """One request on a connection of its own (any worker may take it)."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            return client.get(path, headers=headers)


@pytest.fixture
def served(pg_cluster: PostgresCluster, tmp_path: Path) -> Iterator[Served]:
    for dsn in _pg_copy(pg_cluster, WORLD_DB):
        port = free_port()
        metrics_dir = tmp_path / "metrics"
        ours = ("CHARTGUARD_", "PROMETHEUS")
        env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        env.update(
            PYTHONPATH=str(ROOT),
            CHARTGUARD_SEED_PASSWORD=PASSWORD,
            CHARTGUARD_AUDIT_SPOOL_PATH=str(tmp_path / "spool.jsonl"),
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runbooks.cli", "ehr", "serve", "--db", dsn,
                 "--workers", "2", "--port", str(port)],
                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, proc, log)
            yield Served(url, metrics_dir)
        finally:
            with_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)


def _login(served: Served, email: str, password: str = PASSWORD) -> dict[str, str]:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _until_both_workers(served: Served, send: Callable[[], httpx.Response]) -> list[int]:
    """Send until each of the two workers answered at least once more; the statuses."""
    before = served.charts_by_worker()
    statuses: list[int] = []
    for _ in range(300):
        statuses.append(send().status_code)
        after = served.charts_by_worker()
        if len(after) >= 2 and all(after[pid] > before.get(pid, 0.0) for pid in after):
            return statuses
    pytest.fail(f"both workers never answered: {served.charts_by_worker()}")


@pytest.mark.parametrize("change", ["logout", "disable", "password"])
def test_every_worker_refuses_the_old_token_on_its_next_request(
    served: Served, change: str
) -> None:
    owner = _login(served, "owner@practice-0000.test")
    email = "staff1@practice-0000.test"
    headers = _login(served, email)
    with httpx.Client(base_url=served.url, timeout=10) as client:
        patient = client.get("/api/v1/patients?page_size=1", headers=headers).json()["items"][0]
        users = client.get("/api/v1/users", headers=owner).json()
        staff_id = next(u["id"] for u in users if u["email"] == email)
    chart = f"/api/v1/patients/{patient['id']}/chart"
    # Both workers serve the chart (and so hold the session in their caches).
    warm = _until_both_workers(served, lambda: served.get(chart, headers))
    assert set(warm) == {200}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        if change == "logout":
            r = client.post("/api/v1/auth/logout", headers=headers)
        elif change == "disable":
            r = client.patch(f"/api/v1/users/{staff_id}", headers=owner, json={"disabled": True})
        else:
            r = client.post(
                "/api/v1/auth/password",
                headers=headers,
                json={"current_password": PASSWORD, "new_password": "another long secret"},
            )
    assert r.status_code in (200, 204), r.text
    after = _until_both_workers(served, lambda: served.get(chart, headers))
    assert set(after) == {401}, after
