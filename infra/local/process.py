"""Start, watch and stop long-running processes, each in its own process group.

Every server of the local stack is started by :func:`spawn` in a new session, so it
outlives the Python process (or Pulumi provider) that started it, its output goes to a
log file, and :func:`stop` can end it together with any children it forked.

A process is identified by its pid *and* its start time (``/proc/<pid>/stat``), so a
pid recycled by the kernel for an unrelated program is never mistaken for ours.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from infra.local.errors import InvalidSpecError, PortInUseError, StartError

__all__ = [
    "ProcessHandle",
    "ServerState",
    "child_env",
    "as_user",
    "spawn",
    "start_server",
    "is_running",
    "stop",
    "signal_process",
    "wait_until",
    "wait_for_port",
    "port_is_bound",
    "ensure_port_free",
    "ensure_loopback",
    "log_tail",
]


@dataclass(frozen=True)
class ProcessHandle:
    """A started process: its pid and kernel start time (clock ticks since boot)."""

    pid: int
    start_time: int

    def to_dict(self) -> dict[str, int]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ProcessHandle:
        try:
            return cls(pid=int(str(data["pid"])), start_time=int(str(data["start_time"])))
        except (KeyError, ValueError) as e:
            raise InvalidSpecError(f"process state needs integer pid and start_time: {e}") from e


@dataclass(frozen=True)
class ServerState:
    """A running server of the stack: the process its Pulumi resource keeps in state."""

    process: ProcessHandle

    def to_dict(self) -> dict[str, object]:
        return dict(self.process.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        return cls(process=ProcessHandle.from_dict(data))


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, process group, start time) of ``pid``, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[19])


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: ours plus ``extra``, minus every ``PULUMI_*`` variable.

    Servers outlive the Pulumi engine that started them and need none of its
    variables (``PULUMI_CONFIG_PASSPHRASE`` among them).
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    return {**inherited, **(extra or {})}


def _user_ids(user: str) -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError as e:
        raise InvalidSpecError(f"unknown system user {user!r}") from e
    return entry.pw_uid, entry.pw_gid


def as_user(argv: Sequence[str | os.PathLike[str]], user: str | None) -> list[str]:
    """``argv`` run as system ``user`` (None: as we are), through ``setpriv``.

    ``setpriv`` switches user and group, drops supplementary groups and then *execs*
    the command, so its pid is the command's. We do not let Python switch user in the
    child itself: that forces ``fork()`` instead of ``vfork()``, and a forked child of a
    process running gRPC threads (a Pulumi provider) can crash in gRPC's fork handlers.
    """
    plain = [str(a) for a in argv]
    if user is None:
        return plain
    uid, gid = _user_ids(user)
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *plain]


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> ProcessHandle:
    """Start ``argv`` detached in a new session, appending stdout and stderr to ``log_path``.

    ``env`` is added to the current environment (minus ``PULUMI_*``). ``user`` runs it
    as that system user (needs root; see :func:`as_user`); the returned pid is the
    server itself either way.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = child_env(env)
    if user is not None:
        full_env["HOME"] = str(cwd or "/")
    with open(log_path, "ab") as log:
        if user is not None:
            os.chown(log_path, *_user_ids(user))
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv comes from our own specs
                as_user(argv, user),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as e:
            raise StartError(f"cannot start {argv[0]}: {e}") from e
    stat = _proc_stat(proc.pid)
    if stat is None:  # exited already; report it through is_running later
        return ProcessHandle(pid=proc.pid, start_time=0)
    return ProcessHandle(pid=proc.pid, start_time=stat[2])


def _reap(pid: int) -> None:
    # Reap our own exited children so they do not linger as zombies; a process started by
    # another Python process (e.g. an earlier Pulumi provider) is not ours to wait for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def is_running(handle: ProcessHandle) -> bool:
    """True if the very process of ``handle`` is alive (not exited, not a zombie)."""
    stat = _proc_stat(handle.pid)
    if stat is None or stat[2] != handle.start_time:
        return False
    if stat[0] in ("Z", "X"):
        _reap(handle.pid)
        return False
    return True


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] not in ("Z", "X"):
                return True
    return False


def signal_process(handle: ProcessHandle, sig: int) -> bool:
    """Send ``sig`` to the process if it is still ours; False when it is gone."""
    if not is_running(handle):
        return False
    try:
        os.kill(handle.pid, sig)
    except ProcessLookupError:
        return False
    return True


def stop(handle: ProcessHandle, *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop the process with ``sig``, then SIGKILL its whole process group after ``timeout``.

    Idempotent: stopping a process that is already gone only sweeps leftovers of its group.
    Returns once neither the process nor any member of its group is alive.
    """
    signal_process(handle, sig)
    deadline = time.monotonic() + timeout
    while is_running(handle) and time.monotonic() < deadline:
        time.sleep(0.05)
    # spawn() made the process a group leader, so its group id is its pid.
    if is_running(handle) or _group_alive(handle.pid):
        try:
            os.killpg(handle.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_deadline = time.monotonic() + 5.0
        while _group_alive(handle.pid) and time.monotonic() < kill_deadline:
            time.sleep(0.05)
    _reap(handle.pid)


def start_server(
    argv: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    log_path: Path,
    ready: Callable[[ProcessHandle], object],
    timeout: float,
    interval: float = 0.1,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_sig: int = signal.SIGTERM,
    stop_timeout: float = 10.0,
    quote_log: bool = True,
) -> ProcessHandle:
    """:func:`spawn` a server and wait until ``ready(handle)`` is true (see :func:`wait_until`).

    If it exits or is not ready in ``timeout`` s, it is stopped (with ``stop_sig``, its
    group killed after ``stop_timeout``) before :class:`StartError` propagates, so a failed
    start leaves nothing running. ``quote_log=False`` keeps the log's tail out of the
    error (an application log may hold PHI).
    """
    handle = spawn(argv, log_path=log_path, env=env, cwd=cwd, user=user)
    try:
        wait_until(lambda: ready(handle), what=what, timeout=timeout, handle=handle,
                   log_path=log_path if quote_log else None, interval=interval)
    except StartError:
        stop(handle, sig=stop_sig, timeout=stop_timeout)
        raise
    return handle


def log_tail(path: Path, lines: int = 8) -> str:
    """The last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], object],
    *,
    what: str,
    timeout: float,
    handle: ProcessHandle | None = None,
    log_path: Path | None = None,
    interval: float = 0.1,
) -> None:
    """Poll ``check()`` until it returns true; raise :class:`StartError` on timeout.

    Fails early, with the end of ``log_path``, if the process of ``handle`` exits.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if handle is not None and not is_running(handle):
            tail = log_tail(log_path) if log_path else ""
            raise StartError(f"{what}: process {handle.pid} exited; log {log_path}:\n{tail}")
        if time.monotonic() >= deadline:
            tail = log_tail(log_path) if log_path else ""
            raise StartError(f"{what}: not ready after {timeout:.0f}s; log {log_path}:\n{tail}")
        time.sleep(interval)


def port_is_bound(host: str, port: int) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_port_free(host: str, port: int, *, what: str, grace: float = 0.0) -> None:
    """Raise :class:`PortInUseError` if ``host:port`` is still listening after ``grace`` s.

    The grace covers a server we just stopped whose children are still closing.
    """
    deadline = time.monotonic() + grace
    while port_is_bound(host, port):
        if time.monotonic() >= deadline:
            raise PortInUseError(f"{what}: {host}:{port} is already in use by another process")
        time.sleep(0.2)


def wait_for_port(
    host: str,
    port: int,
    *,
    what: str,
    timeout: float = 30.0,
    handle: ProcessHandle | None = None,
    log_path: Path | None = None,
) -> None:
    """Wait until ``host:port`` accepts connections (see :func:`wait_until`)."""
    wait_until(
        lambda: port_is_bound(host, port),
        what=what,
        timeout=timeout,
        handle=handle,
        log_path=log_path,
    )


def ensure_loopback(host: str, *, what: str) -> str:
    """Return ``host`` if it is an IPv4 loopback address (127.0.0.0/8), else raise."""
    import ipaddress

    try:
        address = ipaddress.IPv4Address(host)
    except ValueError as e:
        raise InvalidSpecError(f"{what}: {host!r} is not an IPv4 address") from e
    if not address.is_loopback:
        raise InvalidSpecError(f"{what}: {host} is outside loopback (127.0.0.0/8); refused")
    return host
