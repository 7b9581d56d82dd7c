"""Find and stop a running PostgreSQL server of the local stack from its data dir.

The runbooks did not start the servers (Pulumi's providers did), so the process is
found the way ``pg_ctl`` finds it: the pid in ``postmaster.pid``, checked against the
kernel's start time so a recycled pid is never signalled.
"""

from __future__ import annotations

import signal
from pathlib import Path

from infra.local.postgres import PostgresSpec
from infra.local.process import ProcessHandle, is_running, stop

__all__ = ["handle_for_pid", "postmaster_handle", "stop_postmaster"]


def _start_time(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(raw[raw.rindex(")") + 2 :].split()[19])


def postmaster_handle(spec: PostgresSpec) -> ProcessHandle | None:
    """The running postmaster of ``spec``'s data dir, or None when none runs."""
    try:
        first = (spec.data_dir / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first.strip())
    except (OSError, IndexError, ValueError):
        return None
    return handle_for_pid(pid)


def handle_for_pid(pid: int) -> ProcessHandle | None:
    """A handle on the running process ``pid`` (None if it does not run)."""
    started = _start_time(pid)
    if started is None:
        return None
    handle = ProcessHandle(pid=pid, start_time=started)
    return handle if is_running(handle) else None


def stop_postmaster(spec: PostgresSpec, *, immediate: bool = False,
                    timeout: float = 30.0) -> bool:
    """Stop the server of ``spec`` (fast shutdown; ``immediate`` = SIGQUIT, like a crash).

    Returns False when no server was running.
    """
    handle = postmaster_handle(spec)
    if handle is None:
        return False
    stop(handle, sig=signal.SIGQUIT if immediate else signal.SIGINT, timeout=timeout)
    return True
