"""A run against a wrong port or an unseeded EHR is refused up front, naming the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from loadtests.cli import load
from loadtests.errors import PreflightError
from loadtests.preflight import check_target
from loadtests.profile import parse_profile
from tests.loadtests.conftest import TEST_PROFILE, EhrFactory, copy_db, free_port

PASSWORD = "chartguard-seed-password"


def _profile(practices: int):
    return parse_profile({**TEST_PROFILE, "practices": practices}, source="test")


@pytest.mark.unit
def test_an_unreachable_target_is_refused_before_anything_starts(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(PreflightError, match="cannot reach .* is the EHR or the router running"):
        check_target(url, profile=_profile(3), password=PASSWORD, timeout=2)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        load, ["run", "--target", url, "--quiet", "--duration", "5", "--out", str(out)]
    )
    assert result.exit_code == 2 and "cannot reach" in result.output
    assert not out.exists()


@pytest.mark.integration
def test_an_ehr_without_the_profiles_practices_names_the_seed_command(
    seeded_db: Path, ehr_factory: EhrFactory, tmp_path: Path
) -> None:
    ehr = ehr_factory.start(copy_db(seeded_db, tmp_path / "ehr.db"))  # practices 0000..0002
    check_target(ehr.url, profile=_profile(3), password=PASSWORD, timeout=10)
    with pytest.raises(PreflightError) as refused:
        check_target(ehr.url, profile=_profile(5), password=PASSWORD, timeout=10)
    message = str(refused.value)
    assert "no practice practice-0004" in message
    assert "chartguard ehr seed --practices 5" in message
    profile = tmp_path / "five.yaml"
    profile.write_text(yaml.safe_dump({**TEST_PROFILE, "practices": 5}))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        load,
        ["run", "--profile", str(profile), "--target", ehr.url, "--quiet", "--duration", "5",
         "--out", str(out), "--ledger", str(tmp_path / "ledger.jsonl")],
    )  # fmt: skip
    assert result.exit_code == 2 and "no practice practice-0004" in result.output
    assert not out.exists() and not (tmp_path / "ledger.jsonl").exists()
