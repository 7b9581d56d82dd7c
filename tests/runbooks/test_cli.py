import pytest
from click.testing import CliRunner

from runbooks.cli import COMMANDS, main

pytestmark = pytest.mark.unit


def test_help_lists_every_registered_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert name in result.output


def test_every_registered_command_imports():
    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, f"{name}: {result.output}"


@pytest.mark.parametrize("args", [
    ["migrate", "--from", "east", "--to", "west", "--dry-run"], ["failover", "--to", "west"],
    ["rollback"], ["release"], ["rehearse", "--quick", "--dry-run"],
    ["drill", "backup-restore"],
])
def test_a_bad_setting_is_one_sentence_naming_the_variable(args, monkeypatch):
    monkeypatch.setenv("CHARTGUARD_PROBE_INTERVAL_S", "0")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "CHARTGUARD_PROBE_INTERVAL_S" in result.output
    assert "Traceback" not in result.output
