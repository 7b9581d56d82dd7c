"""The base of every local-target dynamic provider: processes whose state is in Pulumi.

A resource's inputs are a spec (see :mod:`infra.local.codec`); its outputs are those
inputs plus what was started (``pid``, ``start_time``) and ``running``. The contract:

- ``diff`` compares inputs only (never pids), so ``up`` twice changes nothing; a
  resource whose last ``read`` found it dead (``running: false``) differs, so the next
  ``up`` restarts it through ``update``.
- ``read`` (``refresh``) checks the very process (pid + start time) and reports
  ``running``, so a killed process shows up as a changed resource.
- ``update`` reconfigures in place (reload or restart, as the manager decides);
  inputs listed in ``replace_keys`` need a new resource instead (deleted first,
  because the new one needs the same ports); inputs in ``refused_keys`` cannot change
  at all because replacing would destroy data (a database's data dir, for instance;
  its role changes only in place, to what the live server already is).
- ``delete`` leaves no process, no bound port and no data dir.
- A server a runbook restarted (a rebuilt standby, a reloaded router) is not the
  recorded process: :meth:`ManagedProvider.find_live` finds it from the server's own
  files (``postmaster.pid``, the runtime socket), and ``read``, ``update`` and
  ``delete`` adopt it rather than report it dead, start a second one on a bound
  port, or leave it running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime.rpc import UNKNOWN

from infra.local.codec import from_props
from infra.local.errors import InvalidSpecError
from infra.local.process import ProcessHandle, _proc_stat, is_running

__all__ = ["ManagedProvider", "OUTPUT_KEYS", "PROVIDER_KEY", "live_process"]

PROVIDER_KEY = "__provider"
#: Outputs that are not inputs: never compared by ``diff``.
OUTPUT_KEYS = ("pid", "start_time", "running")

S = TypeVar("S")


def live_process(pid: int | None, *, command: str) -> ProcessHandle | None:
    """A handle on ``pid`` if it runs and is the program ``command`` (``/proc/<pid>/comm``).

    For a pid read from a server's own files, which may be stale and since recycled by
    the kernel for anything else: that must never be adopted (or signalled).
    """
    if pid is None:
        return None
    stat = _proc_stat(pid)
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if stat is None or comm != command:
        return None
    handle = ProcessHandle(pid=pid, start_time=stat[2])
    return handle if is_running(handle) else None


class ManagedProvider(ResourceProvider, Generic[S]):
    """Maps Pulumi's CRUD calls onto a process manager; subclasses fill in the verbs."""

    spec_type: ClassVar[type]
    replace_keys: ClassVar[tuple[str, ...]] = ()
    refused_keys: ClassVar[tuple[str, ...]] = ()
    # Only secret inputs make the serialized provider secret.
    serialize_as_secret_always = False

    # -- verbs implemented by each resource kind -------------------------------------

    def resource_id(self, spec: S) -> str:
        raise NotImplementedError

    def start(self, spec: S) -> ProcessHandle | None:
        """Create the resource; return its process (None if it has none of its own)."""
        raise NotImplementedError

    def alive(self, spec: S, handle: ProcessHandle | None) -> bool:
        raise NotImplementedError

    def reconfigure(self, old: S, new: S, handle: ProcessHandle | None) -> ProcessHandle | None:
        """Make the running resource match ``new`` (restart it if it is dead)."""
        raise NotImplementedError

    def remove(self, spec: S, handle: ProcessHandle | None) -> None:
        raise NotImplementedError

    def find_live(self, spec: S) -> ProcessHandle | None:
        """The running process that serves ``spec`` now, whatever its pid (default: none
        known). Used when the recorded process is gone (a runbook restarted it)."""
        return None

    def matches(self, spec: S, handle: ProcessHandle) -> bool:
        """Whether ``handle`` (from :meth:`find_live`) is what ``spec`` describes, so a
        refresh may record it."""
        return True

    # -- Pulumi's interface ----------------------------------------------------------

    @classmethod
    def inputs(cls, props: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in props.items() if k != PROVIDER_KEY and k not in OUTPUT_KEYS}

    def spec(self, props: dict[str, Any]) -> S:
        spec: S = from_props(self.spec_type, self.inputs(props))
        return spec

    @staticmethod
    def handle(props: dict[str, Any]) -> ProcessHandle | None:
        if props.get("pid") is None or props.get("start_time") is None:
            return None
        return ProcessHandle(pid=int(props["pid"]), start_time=int(props["start_time"]))

    @staticmethod
    def _outs(inputs: dict[str, Any], handle: ProcessHandle | None) -> dict[str, Any]:
        return {
            **inputs,
            "pid": handle.pid if handle else None,
            "start_time": handle.start_time if handle else None,
            "running": True,
        }

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # During preview an input may not be known yet (another resource's output).
        if UNKNOWN in str(self.inputs(news)):
            return CheckResult(news, [])
        try:
            self.spec(news)
        except InvalidSpecError as e:
            return CheckResult(news, [CheckFailure("spec", str(e))])
        return CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        new_inputs = self.inputs(news)
        changed = sorted(k for k, v in new_inputs.items() if olds.get(k) != v)
        refused = [k for k in changed if k in self.refused_keys]
        if refused:
            raise InvalidSpecError(
                f"{type(self).__name__}: {', '.join(refused)} cannot change on a running "
                "resource without destroying its data; run 'chartguard down' first or use "
                "the failover runbook"
            )
        replaces = [k for k in changed if k in self.replace_keys]
        if olds.get("running") is False:
            changed.append("running")
        return DiffResult(
            changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces)
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        spec = self.spec(props)
        handle = self.start(spec)
        return CreateResult(self.resource_id(spec), self._outs(self.inputs(props), handle))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        spec = self.spec(props)
        handle = self.handle(props)
        running = self.alive(spec, handle)
        if not running:
            found = self.find_live(spec)
            if found is not None and self.matches(spec, found):
                # Refresh records the process that really serves (a runbook's restart).
                handle, running = found, True
        return ReadResult(id_, {**self.inputs(props),
                                "pid": handle.pid if handle else props.get("pid"),
                                "start_time": handle.start_time if handle
                                else props.get("start_time"),
                                "running": running})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        handle = self.reconfigure(self.spec(olds), self.spec(news), self.handle(olds))
        return UpdateResult(self._outs(self.inputs(news), handle))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self.remove(self.spec(props), self.handle(props))
