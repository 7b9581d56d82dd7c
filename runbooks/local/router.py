"""Steering the HAProxy router through its runtime API (the ``level admin`` socket).

Changes here are immediate and need no reload: a server in ``maint`` gets no new
request, so putting the old primary in maintenance sends every request to the backup
(the promoted region). Runtime changes last until HAProxy reloads its configuration;
:func:`reload_with_primary` makes the new roles the configuration itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from infra.local import haproxy
from infra.local.errors import LocalTargetError
from runbooks.errors import RunbookError
from runbooks.local.server import handle_for_pid

__all__ = ["RouterControl", "ServerInfo", "reload_with_primary"]

_STATES = ("ready", "drain", "maint")


@dataclass(frozen=True)
class ServerInfo:
    """One ``be_ehr`` server as HAProxy sees it now."""

    name: str
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2", ...
    weight: int
    backup: bool

    @property
    def up(self) -> bool:
        return self.status.startswith("UP")


class RouterControl:
    """Runtime-API client for one HAProxy (``socket_path``), backend ``be_ehr`` by default."""

    def __init__(self, socket_path: Path, *, backend: str = haproxy.BACKEND) -> None:
        self.socket_path = Path(socket_path)
        self.backend = backend

    def command(self, line: str) -> str:
        """Send one runtime command; raise with HAProxy's answer if it refused it."""
        try:
            answer = haproxy.runtime_command(self.socket_path, line).strip()
        except LocalTargetError as e:
            raise RunbookError(f"router unreachable: {e}") from e
        refused = ("Unknown", "No such", "Require", "Invalid", "not found", "cannot", "Can't")
        if any(word in answer for word in refused):
            raise RunbookError(f"router refused {line!r}: {answer.splitlines()[0]}")
        return answer

    def pid(self) -> int:
        match = re.search(r"^Pid: (\d+)$", self.command("show info"), re.MULTILINE)
        if not match:
            raise RunbookError("router: 'show info' has no Pid")
        return int(match.group(1))

    def backends(self) -> list[str]:
        return [ln.strip() for ln in self.command("show backend").splitlines()
                if ln.strip() and not ln.startswith("#")]

    def servers(self) -> dict[str, ServerInfo]:
        """Every server of the backend with its check status, weight and backup flag."""
        lines = self.command("show stat").lstrip("# ").splitlines()
        if not lines:
            return {}
        header = lines[0].split(",")
        found: dict[str, ServerInfo] = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            name = row.get("svname", "")
            if row.get("pxname") == self.backend and name not in ("BACKEND", "FRONTEND", ""):
                found[name] = ServerInfo(name=name, status=row.get("status", ""),
                                         weight=int(row.get("weight") or 0),
                                         backup=row.get("bck") == "1")
        return found

    def _known(self, server: str) -> None:
        if server not in self.servers():
            raise RunbookError(f"router: backend {self.backend} has no server {server!r}")

    def set_state(self, server: str, state: str) -> None:
        """``ready`` (serve), ``drain`` (no new requests) or ``maint`` (out of rotation)."""
        if state not in _STATES:
            raise RunbookError(f"router state must be one of {_STATES}, not {state!r}")
        self._known(server)
        self.command(f"set server {self.backend}/{server} state {state}")

    def set_weight(self, server: str, weight: int) -> None:
        """Set a server's absolute weight (0..256; 0 takes it out of the balance)."""
        if not 0 <= weight <= 256:
            raise RunbookError(f"router weight must be 0..256, not {weight}")
        self._known(server)
        self.command(f"set server {self.backend}/{server} weight {weight}")

    def weights(self) -> dict[str, int]:
        """Each server's current weight (what :meth:`set_weight` sets)."""
        return {name: info.weight for name, info in self.servers().items()}

    def route_all_to(self, target: str) -> None:
        """Send every new request to ``target``: it is made ready, every other server maint."""
        servers = self.servers()
        if target not in servers:
            raise RunbookError(f"router: backend {self.backend} has no server {target!r}")
        self.command(f"set server {self.backend}/{target} state ready")
        for name in servers:
            if name != target:
                self.command(f"set server {self.backend}/{name} state maint")

    def restore(self, states: dict[str, str]) -> None:
        """Put servers back in the given states (rollback of :meth:`route_all_to`)."""
        for name, state in states.items():
            self.set_state(name, state)

    def current_states(self) -> dict[str, str]:
        """Each server's admin state as ``set_state`` understands it."""
        out = {}
        for name, info in self.servers().items():
            out[name] = ("maint" if info.status.startswith("MAINT")
                         else "drain" if info.status.startswith("DRAIN") else "ready")
        return out


def reload_with_primary(spec: haproxy.RouterSpec, primary: str) -> tuple[haproxy.RouterSpec, int]:
    """Reload the router with ``primary`` active and every other region a backup.

    A graceful reload (in-flight requests finish); returns the new spec and the new
    HAProxy pid. The runtime states set before are reset by the reload, which is the
    point: the configuration now says who the primary is.
    """
    if primary not in {s.name for s in spec.servers}:
        raise RunbookError(f"router: no server {primary!r} in its configuration")
    new = replace(spec, servers=tuple(replace(s, backup=s.name != primary)
                                      for s in spec.servers))
    pid = RouterControl(spec.socket_path).pid()
    handle = handle_for_pid(pid)
    if handle is None:
        raise RunbookError(f"router process {pid} is not running")
    try:
        state = haproxy.reload(spec, new, haproxy.RouterState(process=handle))
    except LocalTargetError as e:
        raise RunbookError(f"router reload failed: {e}") from e
    return new, state.process.pid

