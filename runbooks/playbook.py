"""Run a runbook playbook with ansible-runner and return its outcome as data.

Playbooks live beside this module (``runbooks/<name>.yml``) and run against
localhost with a local connection; each of their tasks is a visible step. The
caller gets every task as it starts and ends (``on_task``), so the CLI can show
progress live, and a :class:`PlaybookResult` at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from runbooks.errors import RunbookError

PLAYBOOK_DIR = Path(__file__).resolve().parent


class TaskStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class TaskRecord:
    name: str
    status: TaskStatus
    started: float
    ended: float | None = None
    message: str = ""

    @property
    def seconds(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass
class PlaybookResult:
    playbook: str
    status: str  # ansible-runner's: successful | failed | timeout | canceled
    rc: int
    started: float
    ended: float
    tasks: list[TaskRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def failed_task(self) -> TaskRecord | None:
        return next((t for t in self.tasks if t.status is TaskStatus.FAILED), None)


TaskCallback = Callable[[TaskRecord], None]


def _message(result: dict[str, Any]) -> str:
    """The most useful line of a task result: the tail of stderr, else its msg, else stdout."""
    for key in ("stderr", "msg", "stdout"):
        text = result.get(key)
        if text:
            return str(text).strip().splitlines()[-1][:500]
    return ""


class _EventCollector:
    def __init__(self, on_task: TaskCallback | None) -> None:
        self.tasks: list[TaskRecord] = []
        self.on_task = on_task
        self._current: TaskRecord | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind == "playbook_on_task_start":
            self._current = TaskRecord(data.get("task", "?"), TaskStatus.RUNNING, time.time())
            self.tasks.append(self._current)
            self._notify()
        elif kind.startswith("runner_on_") and self._current is not None:
            status = {
                "runner_on_ok": TaskStatus.CHANGED
                if data.get("res", {}).get("changed")
                else TaskStatus.OK,
                "runner_on_failed": TaskStatus.FAILED,
                "runner_on_unreachable": TaskStatus.FAILED,
                "runner_on_skipped": TaskStatus.SKIPPED,
            }.get(kind)
            if status is not None:
                if data.get("ignore_errors") and status is TaskStatus.FAILED:
                    status = TaskStatus.OK
                self._current.status = status
                self._current.ended = time.time()
                self._current.message = _message(data.get("res", {}))
                self._notify()
        return True  # keep the event in the artifacts too

    def _notify(self) -> None:
        if self.on_task is not None and self._current is not None:
            self.on_task(self._current)


def run_playbook(
    name: str,
    *,
    extravars: dict[str, Any] | None = None,
    work_dir: Path,
    on_task: TaskCallback | None = None,
    timeout: int | None = None,
    playbook_dir: Path = PLAYBOOK_DIR,
) -> PlaybookResult:
    """Run ``<playbook_dir>/<name>.yml`` on localhost and return what happened.

    ``work_dir`` holds ansible-runner's private data dir (artifacts, event logs) so a
    run can be inspected afterwards. The ``chartguard`` executable and this Python
    are passed to the playbook as ``chartguard`` and ``python``.
    """
    import ansible_runner  # imported here: it is slow to import and only runbooks need it

    playbook = playbook_dir / f"{name}.yml"
    if not playbook.is_file():
        raise RunbookError(f"no playbook {playbook}")
    work_dir.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir))
    (private / "project").mkdir()
    shutil.copy(playbook, private / "project" / playbook.name)
    (private / "inventory").mkdir()
    (private / "inventory" / "hosts").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    bin_dir = str(Path(sys.executable).parent)
    chartguard = shutil.which("chartguard", path=bin_dir) or "chartguard"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "True",
    }
    collector = _EventCollector(on_task)
    started = time.time()
    runner = ansible_runner.run(
        private_data_dir=str(private),
        playbook=playbook.name,
        extravars={"chartguard": chartguard, "python": sys.executable, **(extravars or {})},
        envvars=env,
        event_handler=collector,
        quiet=True,
        timeout=timeout,
    )
    return PlaybookResult(
        playbook=name,
        status=str(runner.status),
        rc=int(runner.rc if runner.rc is not None else 1),
        started=started,
        ended=time.time(),
        tasks=collector.tasks,
    )
