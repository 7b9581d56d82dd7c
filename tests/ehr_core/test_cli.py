"""``chartguard ehr`` as an operator meets it: bad settings and a taken port are refused
in one sentence, before anything is changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ehr_core.cli import ehr

pytestmark = pytest.mark.unit


def test_bad_database_url_is_one_sentence_without_the_password(tmp_path: Path) -> None:
    result = CliRunner().invoke(ehr, ["seed", "--db", "mysql://app:hunter2@db/ehr"])
    assert result.exit_code == 2
    assert "--db / CHARTGUARD_DB_URL: db_url must be a sqlite:// or postgresql:// URL" in (
        result.output
    )
    assert "hunter2" not in result.output and "pydantic" not in result.output


def test_serve_on_a_taken_port_is_refused_before_touching_the_database(tmp_path: Path) -> None:
    """Gunicorn would find out only after migrating and seeding, and after five retries."""
    import socket

    db = tmp_path / "never.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            ehr, ["serve", "--port", str(port), "--db", f"sqlite:///{db}"]
        )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in result.output
    assert not db.exists()


def test_audit_verify_without_a_database_creates_none_and_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = CliRunner().invoke(ehr, ["audit-verify", "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert f"no database at {missing}: nothing to check" in result.output
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()  # a file, but not a chartguard database
    result = CliRunner().invoke(ehr, ["audit-verify", "--db", f"sqlite:///{empty}"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot read the audit log (no such table: practices)" in result.output
    assert "chartguard ehr migrate" in result.output
