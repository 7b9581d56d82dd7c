"""``chartguard up|down|preview|refresh|status``: bad input and missing state fail clearly."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.status import Health, stack_status
from runbooks.cli import main

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_non_local_stack_without_passphrase_exits_2_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("CHARTGUARD_PULUMI_PASSPHRASE", raising=False)
    result = CliRunner().invoke(main, ["preview", "--stack", "aws-example"])
    assert result.exit_code == 2
    assert "CHARTGUARD_PULUMI_PASSPHRASE" in result.output
    assert not (tmp_path / "pulumi").exists()


def test_status_without_a_deployment_says_to_run_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1
    assert "chartguard up" in result.output


def test_status_of_a_stack_whose_processes_are_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    dead_pid = 2**22 + 7  # above the default pid_max: never a live process
    url = f"http://127.0.0.1:{port}"
    deployment = {
        "regions": [
            {"name": "east", "role": "primary", "address": "127.0.0.1", "ehr_url": url,
             "dsn": f"postgresql://u:p@127.0.0.1:{port}/db", "pids": {"ehr": dead_pid}},
        ],
        "links": [],
        "router": url,
        "service_pids": {"router": dead_pid},
    }
    path = tmp_path / "local" / "deployment.json"
    path.parent.mkdir()
    path.write_text(json.dumps(deployment))

    report = stack_status(path, stack="local")
    assert not report.healthy
    by_key = {(c.region, c.component): c for c in report.components}
    assert by_key[("east", "ehr")].health is Health.DOWN
    assert by_key[("east", "ehr")].pid_alive is False
    assert by_key[("east", "postgres")].health is Health.DOWN
    assert by_key[("east", "postgres")].address == f"127.0.0.1:{port}"
    assert "p@" not in by_key[("east", "postgres")].detail  # no DSN secrets in output
    assert by_key[("global", "router")].health is Health.DOWN

    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["status", "--json"])
    assert result.exit_code == 1
    assert {c["component"] for c in json.loads(result.output)} == {"ehr", "postgres", "router"}


def test_bad_deployment_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text("{not json")
    from infra.errors import InfraError

    with pytest.raises(InfraError, match="deployment.json"):
        stack_status(path, stack="local")
