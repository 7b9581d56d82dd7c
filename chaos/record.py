"""The crash-safe record of the faults a run has applied (one file per scenario by default).

Each fault is appended and fsync'd BEFORE it is applied, and marked undone after the method
or the rollback undoes it, so after a SIGKILL ``chartguard chaos rollback`` knows everything
that may still be active (a fault recorded but never applied is harmless to undo).
A record with faults never rolled back, or whose runner is still alive, blocks the next run
at the same path.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from chaos.atomic import write_json_atomic
from chaos.deployment import process_identity
from chaos.errors import RecordError
from chaos.timestamps import now_stamp

__all__ = ["Fault", "FaultRecord"]

FaultKind = Literal["toxic", "link", "process"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One applied fault: a toxic on a proxy, a disabled proxy, or a stopped process."""

    kind: FaultKind
    proxy: str | None = None
    toxic: str | None = None
    region: str | None = None
    component: str | None = None
    pid: int | None = None
    identity: str | None = None
    mode: str | None = None
    argv: tuple[str, ...] = ()
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    log: str | None = None

    @property
    def key(self) -> tuple[str, ...]:
        if self.kind == "toxic":
            return ("toxic", str(self.proxy), str(self.toxic))
        if self.kind == "link":
            return ("link", str(self.proxy))
        return ("process", str(self.region), str(self.component))

    @property
    def link_label(self) -> str:
        """The gauge's ``link`` label: the proxy, or ``process:<region>:<component>``."""
        if self.kind == "process":
            return f"process:{self.region}:{self.component}"
        return str(self.proxy)

    @property
    def toxic_label(self) -> str:
        """The gauge's ``toxic`` label: the toxic's name, ``disabled``, or the stop mode."""
        if self.kind == "toxic":
            return str(self.toxic)
        if self.kind == "link":
            return "disabled"
        return str(self.mode)

    def describe(self) -> str:
        return f"{self.toxic_label}@{self.link_label}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        return {k: v for k, v in data.items() if v not in (None, [], {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["argv"] = tuple(values.get("argv") or ())
        return cls(**values)


class FaultRecord:
    """The record file at ``path``; one run at a time may own it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}

    def load(self) -> dict[str, Any]:
        """Read the record; :class:`RecordError` when missing or unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise RecordError(f"{self.path}: no chaos record here") from e
        except (OSError, ValueError) as e:
            raise RecordError(f"{self.path}: unreadable chaos record: {e}") from e
        if not isinstance(data, dict) or not isinstance(data.get("faults"), list):
            raise RecordError(f"{self.path}: not a chaos record")
        self.data = data
        return data

    def live_runner(self) -> int | None:
        """The pid of the run that owns this (loaded) record when it is still running.

        The runner's start time is recorded with its pid, so a reused pid is not mistaken
        for it; a record without one (older versions) trusts the pid alone.
        """
        if self.data.get("state") != "running":
            return None
        pid = self.data.get("runner_pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            return None
        identity = process_identity(pid)
        if identity is None:
            return None
        expected = self.data.get("runner_identity")
        return pid if expected in (None, identity) else None

    def begin(
        self,
        *,
        run_id: str,
        scenario: str,
        toxiproxy_url: str,
        deployment_path: Path | None = None,
    ) -> None:
        """Start a new record; refuse if a previous run's record was never rolled back."""
        if self.path.exists():
            try:
                previous = self.load()
            except RecordError:
                previous = {}
            pid = self.live_runner()
            if pid is not None and pid != os.getpid():
                raise RecordError(
                    f"{self.path}: run {previous.get('run_id')} ({previous.get('scenario')}) "
                    f"is still running (pid {pid})"
                )
            if previous.get("state") != "rolled_back" and self.active():
                raise RecordError(
                    f"{self.path}: run {previous.get('run_id')} ({previous.get('scenario')}) "
                    "left faults that were never rolled back; run `chartguard chaos rollback "
                    f"--record {self.path}` first"
                )
        self.data = {
            "version": 1,
            "run_id": run_id,
            "scenario": scenario,
            "toxiproxy_url": toxiproxy_url,
            "runner_pid": os.getpid(),
            "runner_identity": process_identity(os.getpid()),
            "deployment": str(deployment_path) if deployment_path else None,
            "started": now_stamp(),
            "state": "running",
            "faults": [],
        }
        self._write()

    def _write(self) -> None:
        try:
            write_json_atomic(self.path, self.data)
        except OSError as e:
            raise RecordError(f"{self.path}: cannot write chaos record: {e.strerror}") from e

    def add(self, fault: Fault) -> None:
        """Record ``fault`` as (about to be) active; durable when this returns."""
        self.data["faults"].append({**fault.as_json(), "active": True})
        self._write()

    def update(self, fault: Fault) -> None:
        """Replace the newest entry with ``fault``'s key (e.g. a restarted process's new pid)."""
        for entry in reversed(self.data["faults"]):
            if Fault.from_json(entry).key == fault.key:
                entry.update(fault.as_json())
                break
        self._write()

    def mark_undone(self, fault: Fault) -> None:
        for entry in self.data["faults"]:
            if entry.get("active") and Fault.from_json(entry).key == fault.key:
                entry["active"] = False
        self._write()

    def active(self) -> list[Fault]:
        """Faults still possibly active, in the order they were applied."""
        return [Fault.from_json(e) for e in self.data.get("faults", []) if e.get("active")]

    def finish(self, state: Literal["rolled_back", "rollback_failed"]) -> None:
        self.data["state"] = state
        self.data["finished"] = now_stamp()
        self._write()
