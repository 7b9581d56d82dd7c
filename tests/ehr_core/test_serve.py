"""``chartguard ehr serve`` with no arguments really serves a seeded demo practice."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHARTGUARD_", "PROMETHEUS"))}
    env["PYTHONPATH"] = str(ROOT)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runbooks.cli", "ehr", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc, log
    finally:
        with_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)


def with_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"serve not ready after {timeout}s:\n{log.read_text()}")


def test_serve_without_arguments_serves_the_demo_practice(
    served: tuple[str, subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    url, proc, log = served
    wait_ready(url, proc, log)
    output = log.read_text()
    assert "owner@practice-0000.test" in output  # it says how to log in
    assert (tmp_path / "chartguard.db").exists()  # SQLite in the current folder
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.post(
            "/api/v1/auth/login",
            json={"email": "owner@practice-0000.test", "password": "chartguard-seed-password"},
        )
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        today = dt.datetime.now(dt.UTC).date()
        schedule = c.get(f"/api/v1/schedule?date={today}", headers=headers)
        assert schedule.status_code == 200 and len(schedule.json()["items"]) >= 20
        assert schedule.headers["x-chartguard-region"] == "local"
        # Metrics are aggregated across the gunicorn workers (multiprocess mode).
        for _ in range(4):
            c.get("/healthz")
        metrics = c.get("/metrics").text
        assert 'route="/api/v1/schedule"' in metrics
        assert "chartguard_http_request_duration_seconds_bucket" in metrics
    # The private metrics directory goes away with the server.
    metrics_dir = Path(output.split("metrics files in ", 1)[1].split()[0])
    assert metrics_dir.is_dir()
    with_group(proc, signal.SIGTERM)
    proc.wait(timeout=30)
    assert not metrics_dir.exists()
