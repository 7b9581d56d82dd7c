"""What chaos reads from ``.state/<stack>/deployment.json`` and the processes it controls.

Only the fields chaos needs are read, tolerantly: ``toxiproxy`` (a URL or ``{"url": ...}``),
``router``/``prometheus`` (URLs, used as probe variables), and ``regions`` (a list of
``{"name", "pids": {component: pid}, "commands": {component: {"argv", "cwd", "env", "log"}}}``
or the same keyed by name). chaos never imports ``infra``.

Stopping a process ``freeze``s it (SIGSTOP, undone by SIGCONT: the process is alive but
answers nothing, like a hung host) or ``kill``s it (SIGTERM, undone by starting its recorded
command again). A process that leads its own process group is signalled as a group, so a
PostgreSQL postmaster freezes with its backends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.atomic import write_json_atomic
from chaos.errors import DeploymentError

__all__ = [
    "Deployment",
    "ProcessRef",
    "continue_process",
    "freeze_process",
    "kill_process",
    "process_identity",
    "record_restart",
    "start_command",
]


@dataclass(frozen=True, slots=True)
class ProcessRef:
    """A region's component: its pid and, when recorded, the command that starts it."""

    region: str
    component: str
    pid: int
    argv: tuple[str, ...] = ()
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    log: str | None = None

    @property
    def label(self) -> str:
        return f"{self.region}:{self.component}"


@dataclass(frozen=True, slots=True)
class Deployment:
    path: Path
    toxiproxy_url: str | None
    variables: dict[str, str]
    processes: dict[tuple[str, str], ProcessRef]

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read ``path``; :class:`DeploymentError` names what is missing or malformed."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise DeploymentError(f"{path}: no deployment file (is the stack up?)") from e
        except (OSError, ValueError) as e:
            raise DeploymentError(f"{path}: not readable JSON: {e}") from e
        if not isinstance(data, dict):
            raise DeploymentError(f"{path}: must hold a JSON object")
        variables = {
            key: url
            for key in ("router", "prometheus", "alertmanager", "toxiproxy")
            if (url := _url(data.get(key))) is not None
        }
        processes: dict[tuple[str, str], ProcessRef] = {}
        regions = data.get("regions") or []
        if isinstance(regions, dict):
            regions = [{"name": name, **values} for name, values in regions.items()]
        for i, region in enumerate(regions):
            if not isinstance(region, dict) or not isinstance(region.get("name"), str):
                raise DeploymentError(f"{path}: regions[{i}] needs a name")
            name = region["name"]
            if (ehr_url := _url(region.get("ehr_url"))) is not None:
                variables[f"ehr_{name}"] = ehr_url
            commands = region.get("commands") or {}
            for component, pid in (region.get("pids") or {}).items():
                if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
                    raise DeploymentError(f"{path}: regions[{i}].pids.{component} is not a pid")
                command = commands.get(component) or {}
                processes[(name, component)] = ProcessRef(
                    region=name,
                    component=component,
                    pid=pid,
                    argv=tuple(str(a) for a in command.get("argv") or ()),
                    cwd=command.get("cwd"),
                    env={str(k): str(v) for k, v in (command.get("env") or {}).items()},
                    log=command.get("log"),
                )
        return cls(
            path=path,
            toxiproxy_url=variables.get("toxiproxy"),
            variables=variables,
            processes=processes,
        )

    def process(self, region: str, component: str) -> ProcessRef:
        try:
            return self.processes[(region, component)]
        except KeyError:
            known = ", ".join(sorted(f"{r}:{c}" for r, c in self.processes)) or "none"
            raise DeploymentError(
                f"{self.path}: no process {region}:{component} (known: {known})"
            ) from None


def _url(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("url", "api", "api_url"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def process_identity(pid: int) -> str | None:
    """The process's start time from /proc (guards against pid reuse); None if gone.

    A zombie (exited, not yet reaped by its parent) counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the ")" that ends the command name: state is 3rd, starttime 22nd.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def _signal(pid: int, signum: int) -> bool:
    """Signal ``pid``'s group when it leads one, else ``pid``; False when it is gone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        return False
    return True


def freeze_process(pid: int) -> bool:
    return _signal(pid, signal.SIGSTOP)


def continue_process(pid: int, identity: str | None) -> bool:
    """SIGCONT ``pid`` if it is still the process we froze (same start time)."""
    if identity is not None and process_identity(pid) != identity:
        return False
    return _signal(pid, signal.SIGCONT)


def kill_process(pid: int, *, grace_s: float = 10.0) -> None:
    """SIGTERM (continuing it first, in case it is frozen), then SIGKILL after ``grace_s``."""
    _signal(pid, signal.SIGCONT)
    if not _signal(pid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if process_identity(pid) is None:
            return
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL)


def start_command(
    argv: tuple[str, ...], *, cwd: str | None, env: dict[str, str], log: str | None
) -> int:
    """Start a recorded command again, detached in its own session; returns its pid."""
    if not argv:
        raise DeploymentError("no recorded command to start the process again")
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    try:
        child = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as e:
        raise DeploymentError(f"cannot start {argv[0]}: {e.strerror}") from e
    finally:
        if log and not isinstance(out, int):
            out.close()
    return child.pid


def record_restart(path: Path, *, region: str, component: str, pid: int) -> None:
    """Write a restarted process's new ``pid`` into the deployment file at ``path``, so the
    stack's status, the next scenario and the next rollback find the process that runs now.

    A file that no longer names the process (the stack was torn down meanwhile) is left
    alone; an unreadable one raises :class:`DeploymentError`.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise DeploymentError(f"{path}: not readable JSON: {e}") from e
    regions = data.get("regions") if isinstance(data, dict) else None
    if isinstance(regions, dict):
        entry = regions.get(region)
    else:
        entry = next(
            (r for r in regions or [] if isinstance(r, dict) and r.get("name") == region), None
        )
    pids = entry.get("pids") if isinstance(entry, dict) else None
    if not isinstance(pids, dict) or component not in pids:
        return
    pids[component] = pid
    try:
        write_json_atomic(path, data)
    except OSError as e:
        raise DeploymentError(f"{path}: cannot record the new pid: {e.strerror}") from e
