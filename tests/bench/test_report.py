"""The documented measured numbers are the committed results', rendered, never typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report

pytestmark = pytest.mark.unit


def test_the_readme_blocks_match_the_committed_results() -> None:
    assert report.stale() == [], "run `python -m bench.report` after a benchmark"


def test_a_hand_edited_number_is_caught(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = report.render(report.DOC.read_text())
    first = next(line for line in text.splitlines() if line.startswith("| EHR CPU per mix"))
    readme.write_text(text.replace(first, first.replace("ms", "ms (edited)", 1)))
    assert report.stale(readme) == ["ehr"]


def test_every_block_has_a_renderer(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("<!-- bench:nope -->\n<!-- /bench:nope -->\n")
    with pytest.raises(KeyError, match="bench:nope"):
        report.stale(readme)


def test_goals_not_met_are_said_so() -> None:
    data = json.loads((report.RESULTS / "ehr.json").read_text())
    data["goals"]["cpu_ms_per_request"]["met"] = False
    assert "not met" in report.render_ehr(data)
