"""``chartguard statuspage maintenance|update`` and ``StatusClient`` against the real service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from monitoring.status import Conflict, NotFound, StatusClient, StatusError
from runbooks.cli import main
from tests.monitoring.status.payloads import TOKEN, alert, webhook_body
from tests.monitoring.status.servers import status_service

pytestmark = pytest.mark.integration


@pytest.fixture
def status_url(tmp_path: Path) -> Iterator[str]:
    with status_service(tmp_path, token=TOKEN) as url:
        yield url


def test_maintenance_and_updates_from_the_command_line(status_url: str) -> None:
    runner = CliRunner()
    env = {"CHARTGUARD_STATUS_TOKEN": TOKEN, "CHARTGUARD_STATUS_URL": status_url}
    started = runner.invoke(main, ["statuspage", "maintenance", "start", "--message",
                                   "Migrating east's database", "--component", "east/database",
                                   "--minutes", "20"], env=env)
    assert started.exit_code == 0, started.output
    window = json.loads(started.output)
    assert window["status"] == "in_progress"
    summary = httpx.get(f"{status_url}/api/v1/summary").json()
    assert summary["maintenance"][0]["id"] == window["id"]

    done = runner.invoke(main, ["statuspage", "maintenance", "complete", str(window["id"])],
                         env=env)
    assert done.exit_code == 0 and json.loads(done.output)["status"] == "completed"
    again = runner.invoke(main, ["statuspage", "maintenance", "complete", str(window["id"])],
                          env=env)
    assert again.exit_code == 1 and "already completed" in again.output

    bad = runner.invoke(main, ["statuspage", "maintenance", "start", "--message", "x",
                               "--component", "east"], env=env)
    assert bad.exit_code == 1 and "east/app" in bad.output
    no_token = runner.invoke(main, ["statuspage", "update", "1", "--status", "identified",
                                    "--message", "x"], env={"CHARTGUARD_STATUS_TOKEN": ""})
    assert no_token.exit_code == 2 and "CHARTGUARD_STATUS_TOKEN" in no_token.output

    httpx.post(f"{status_url}/api/v1/alerts/webhook", json=webhook_body(alert()))
    incident_id = httpx.get(f"{status_url}/api/v1/incidents").json()[0]["id"]
    upd = runner.invoke(main, ["statuspage", "update", str(incident_id), "--status",
                               "identified", "--message", "Disk full on east"], env=env)
    assert upd.exit_code == 0, upd.output
    assert json.loads(upd.output)["status"] == "identified"


def test_client_maps_errors(status_url: str) -> None:
    with StatusClient(status_url, token=TOKEN) as client:
        with pytest.raises(NotFound):
            client.complete_maintenance(999)
        window = client.start_maintenance(message="m", components=["west/app"])
        client.complete_maintenance(window["id"])
        with pytest.raises(Conflict):
            client.complete_maintenance(window["id"])
    with StatusClient(status_url, token="wrong-token") as client, \
            pytest.raises(StatusError, match="401"):
        client.complete_maintenance(1)
    with StatusClient("http://127.0.0.1:9", token=TOKEN, timeout=1) as client, \
            pytest.raises(StatusError, match="unreachable"):
        client.summary()
