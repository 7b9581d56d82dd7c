"""The ansible-runner plumbing: real ansible-playbook runs on localhost."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.errors import RunbookError
from runbooks.playbook import TaskRecord, TaskStatus, run_playbook

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).parent / "playbooks"


def test_successful_run_reports_every_task_live(tmp_path: Path) -> None:
    seen: list[tuple[str, TaskStatus]] = []

    def on_task(task: TaskRecord) -> None:
        seen.append((task.name, task.status))

    result = run_playbook(
        "two_steps", extravars={"fail": False, "reason": "none"}, work_dir=tmp_path,
        on_task=on_task, playbook_dir=PLAYBOOKS,
    )
    assert result.ok, result
    assert [t.name for t in result.tasks] == ["first step", "second step", "third step"]
    assert all(t.status is TaskStatus.CHANGED for t in result.tasks)
    assert ("first step", TaskStatus.RUNNING) in seen and ("third step", TaskStatus.CHANGED) in seen
    assert all(t.seconds is not None and t.seconds >= 0 for t in result.tasks)


def test_failed_task_stops_the_run_and_says_why(tmp_path: Path) -> None:
    result = run_playbook(
        "two_steps", extravars={"fail": True, "reason": "lag too high"}, work_dir=tmp_path,
        playbook_dir=PLAYBOOKS,
    )
    assert not result.ok
    failed = result.failed_task
    assert failed is not None and failed.name == "second step"
    assert "lag too high" in failed.message
    assert "third step" not in [t.name for t in result.tasks]


def test_unknown_playbook_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="no playbook"):
        run_playbook("nope", work_dir=tmp_path, playbook_dir=PLAYBOOKS)
