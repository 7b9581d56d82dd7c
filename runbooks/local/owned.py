"""Processes the runbooks started themselves, so the stack's teardown can stop them.

A rebuilt standby and a reloaded router are new processes that the Pulumi state does
not know (it records the pids it started), so ``chartguard down`` would leave them
running. Each is remembered in ``<stack dir>/runbooks/started.json`` (pid + kernel
start time, so a recycled pid is never signalled) and :func:`release` stops them.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path

from infra.local.process import ProcessHandle, is_running, stop

__all__ = ["remember", "release", "started_file"]

_SIGNALS = {"postgres": signal.SIGINT, "router": signal.SIGTERM}


def started_file(stack_dir: Path) -> Path:
    return stack_dir / "runbooks" / "started.json"


def _read(path: Path) -> list[dict[str, object]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _write(path: Path, entries: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".started-", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(entries, f, indent=2)
    os.replace(tmp, path)


def remember(stack_dir: Path, *, kind: str, name: str, handle: ProcessHandle) -> None:
    """Record a process the runbooks started (``kind`` is ``postgres`` or ``router``)."""
    path = started_file(stack_dir)
    entries = [e for e in _read(path) if e.get("name") != name or e.get("kind") != kind]
    entries.append({"kind": kind, "name": name, **handle.to_dict()})
    _write(path, entries)


def release(stack_dir: Path) -> list[str]:
    """Stop every remembered process that still runs; return what was stopped."""
    path = started_file(stack_dir)
    stopped = []
    for entry in _read(path):
        try:
            handle = ProcessHandle.from_dict(entry)
        except Exception:  # a damaged entry names nothing we could safely signal
            continue
        if is_running(handle):
            stop(handle, sig=_SIGNALS.get(str(entry.get("kind")), signal.SIGTERM), timeout=30)
            stopped.append(f"{entry.get('kind')} {entry.get('name')} (pid {handle.pid})")
    path.unlink(missing_ok=True)
    return stopped
