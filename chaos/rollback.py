"""Undo faults: remove toxics, re-enable links, continue or restart processes.

Every fault is attempted (in reverse order of application) even when an earlier one fails,
each up to ``attempts`` times; undoing something already undone is a success, so rollback
can run any number of times (after the method, in ``finally``, from ``chaos rollback``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos.adapter import ToxiproxyAdapter
from chaos.deployment import continue_process, process_identity, record_restart, start_command
from chaos.errors import ChaosError, RecordError
from chaos.record import Fault, FaultRecord
from chaos.timestamps import Stamp, now_stamp

__all__ = [
    "RollbackResult",
    "note_restart",
    "pending_records",
    "refuse_live_run",
    "roll_back",
    "roll_back_record",
    "undo_fault",
]


@dataclass(slots=True)
class RollbackResult:
    ok: bool = True
    started: Stamp = field(default_factory=now_stamp)
    ended: Stamp | None = None
    undone: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "started": self.started,
            "ended": self.ended,
            "undone": self.undone,
            "errors": self.errors,
        }


def undo_fault(fault: Fault, adapter: ToxiproxyAdapter) -> Fault:
    """Undo one fault; returns it (with a new pid when a killed process was restarted)."""
    if fault.kind == "toxic":
        adapter.remove_toxic(str(fault.proxy), str(fault.toxic))
    elif fault.kind == "link":
        if str(fault.proxy) in adapter.proxies():
            adapter.set_enabled(str(fault.proxy), True)
    elif fault.mode == "freeze":
        continue_process(int(fault.pid or 0), fault.identity)
    elif fault.pid is None or process_identity(fault.pid) != fault.identity:
        pid = start_command(fault.argv, cwd=fault.cwd, env=fault.env, log=fault.log)
        return replace(fault, pid=pid, identity=process_identity(pid))
    return fault


def roll_back(
    faults: Iterable[Fault],
    *,
    adapter: ToxiproxyAdapter,
    record: FaultRecord | None = None,
    on_undone: Callable[[Fault], None] | None = None,
    deployment_path: Path | None = None,
    attempts: int = 3,
) -> RollbackResult:
    """Undo ``faults`` newest first; a fault that fails ``attempts`` times is reported.

    A killed process started again gets its new pid written to the record and, when
    given, to ``deployment_path``.
    """
    result = RollbackResult()
    for fault in reversed(list(faults)):
        for attempt in range(1, attempts + 1):
            try:
                undone = undo_fault(fault, adapter)
            except (ChaosError, OSError) as e:
                if attempt == attempts:
                    result.ok = False
                    result.errors.append(f"{fault.describe()}: {e}")
                else:
                    time.sleep(0.2 * attempt)
                continue
            if undone != fault:
                note_restart(undone, record=record, deployment_path=deployment_path)
            if record is not None:
                record.mark_undone(undone)
            if on_undone is not None:
                on_undone(fault)
            result.undone.append(fault.describe())
            break
    result.ended = now_stamp()
    return result


def note_restart(
    fault: Fault, *, record: FaultRecord | None, deployment_path: Path | None
) -> None:
    """Write a restarted process's new pid where the next reader looks for it."""
    if record is not None:
        record.update(fault)
    if deployment_path is not None and fault.pid is not None:
        record_restart(
            deployment_path, region=str(fault.region), component=str(fault.component), pid=fault.pid
        )


def refuse_live_run(record: FaultRecord) -> None:
    """:class:`RecordError` when the run that owns ``record`` (loaded) is still running: it
    rolls back by itself when it ends, and undoing its faults under it would end its
    experiment without it knowing."""
    pid = record.live_runner()
    if pid is not None:
        raise RecordError(
            f"{record.path}: run {record.data.get('run_id')} ({record.data.get('scenario')}) "
            f"is still running (pid {pid}) and rolls back by itself when it ends; stop it "
            f"with `kill -TERM {pid}`, or pass --force to undo its faults under it"
        )


def roll_back_record(
    path: Path, *, toxiproxy_url: str | None = None, timeout_s: float = 5.0, force: bool = False
) -> RollbackResult:
    """Undo every fault a (killed) run left active in the record at ``path``.

    The record names the Toxiproxy server it used; ``toxiproxy_url`` overrides it. A record
    whose runner is still alive is refused (:class:`RecordError`) unless ``force``.
    """
    record = FaultRecord(path)
    data = record.load()
    if not force:
        refuse_live_run(record)
    url = toxiproxy_url or str(data.get("toxiproxy_url") or "")
    adapter = ToxiproxyAdapter(url, timeout_s=timeout_s)
    deployment = data.get("deployment")
    result = roll_back(
        record.active(),
        adapter=adapter,
        record=record,
        deployment_path=Path(deployment) if isinstance(deployment, str) else None,
    )
    record.finish("rolled_back" if result.ok else "rollback_failed")
    return result


def pending_records(directory: Path) -> list[Path]:
    """Records in ``directory`` that were not rolled back completely (oldest first)."""
    pending = []
    for path in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            data = FaultRecord(path).load()
        except ChaosError:
            continue
        if data.get("state") != "rolled_back":
            pending.append(path)
    return pending
