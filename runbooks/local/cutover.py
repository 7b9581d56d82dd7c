"""Moving the primary role between regions: planned migration and unplanned failover.

A :class:`Cutover` runs named steps in order, each recorded with its timing
(:class:`~runbooks.local.outcome.StepRecord`), reported live through ``on_step``.
Before the new primary is promoted every change can be undone, so a failed gate rolls
back (router, fence) and the old primary serves again. After promotion there is no
going back without rebuilding, so a failure there leaves the new primary serving and
says so; a gate that fails once everything is done migrates back the same careful way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

import httpx
import psycopg

from ehr_core import switchover
from ehr_core.errors import EhrError
from infra.local.haproxy import READ_BACKEND, RouterSpec
from infra.local.postgres import PostgresSpec, app_dsn, connect
from runbooks.errors import GateFailed, PrecheckFailed, RunbookError
from runbooks.local import fence as fencing
from runbooks.local.cluster import LocalCluster
from runbooks.local.outcome import CutoverResult, CutoverStatus, StepRecord, StepStatus
from runbooks.local.owned import remember
from runbooks.local.probe import WriteProbe
from runbooks.local.promote import promote, set_sync_standbys
from runbooks.local.rebuild import discard_old_data, rebuild_as_standby
from runbooks.local.replication import replication_state, wait_replayed
from runbooks.local.router import RouterControl, reload_with_primary
from runbooks.local.server import handle_for_pid

__all__ = ["NO_GATE", "Cutover", "CutoverOptions", "Notices", "SkippedGate", "SloGate"]


class SloGate(Protocol):
    """``gate(step, start, end)`` -> (passed, detail) for the SLOs over ``start..end``."""

    def __call__(self, step: str, start: float, end: float) -> tuple[bool, str]: ...


class SkippedGate:
    """The SLO gate left out on purpose, for ``reason`` (``--no-gate``): each gate check
    passes, and the step's and the result's records say it was skipped. The only way a
    cutover runs without a gate: no gate at all (nothing configured) fails the first
    check, before anything changes."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __call__(self, step: str, start: float, end: float) -> tuple[bool, str]:
        return True, f"SLO gate skipped ({self.reason})"


NO_GATE = SkippedGate("--no-gate")


class Notices(Protocol):
    """Where practices learn about the maintenance (the status service)."""

    def open(self, *, source: str, target: str) -> str: ...

    def close(self, notice_id: str, *, ok: bool) -> None: ...


@dataclass(frozen=True, kw_only=True)
class CutoverOptions:
    max_lag_bytes: int = 16 * 1024 * 1024
    max_lag_s: float = 5.0
    replay_timeout_s: float = 30.0
    #: After new requests go to the target: time for the source's in-flight requests
    #: (tens of ms each) to finish before it is fenced. Writes arriving meanwhile are
    #: held by the target, so this is most of the write pause; kept under the 500 ms
    #: latency threshold with the promotion.
    drain_s: float = 0.25
    ready_timeout_s: float = 30.0
    read_steps: tuple[int, ...] = (10, 50, 100)
    #: How long each read-shift step carries traffic before its gate is evaluated.
    read_step_hold_s: float = 5.0
    rebuild: bool = True
    rollback_on_postcheck: bool = True
    settle_s: float = 15.0
    #: A planned cutover asks the target's EHR to hold writes (not refuse them) for up
    #: to this long while it is promoted (``ehr_core.switchover``; 0 = refuse them).
    write_hold_s: float = 10.0


StepCallback = Callable[[StepRecord], None]


class _Failed(Exception):
    def __init__(self, step: str, reason: str, *, gate: str | None = None) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.gate = gate


class Cutover:
    """Runs migrations and failovers on one :class:`LocalCluster`."""

    def __init__(
        self,
        cluster: LocalCluster,
        *,
        options: CutoverOptions | None = None,
        gate: SloGate | None = None,
        notices: Notices | None = None,
        probe: WriteProbe | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.cluster = cluster
        self.options = options or CutoverOptions()
        self.gate = gate
        self.notices = notices
        self.probe = probe
        self.on_step = on_step
        self.router = (RouterControl(cluster.router.socket_path)
                       if cluster.router is not None else None)
        # Read weights before a read shift, restored if the migration rolls back.
        self._read_weights_before: dict[str, int] = {}
        # The switchover announced to the target's EHR (its id), cleared afterwards.
        self._switchover_id: int | None = None

    @property
    def gate_skipped(self) -> str | None:
        return self.gate.reason if isinstance(self.gate, SkippedGate) else None

    # -- plumbing ------------------------------------------------------------------

    @contextmanager
    def _step(self, result: CutoverResult, name: str) -> Iterator[StepRecord]:
        record = StepRecord(name=name, status=StepStatus.OK, started=time.time())
        result.steps.append(record)
        self._emit(record)
        try:
            yield record
        except (RunbookError, OSError, httpx.HTTPError) as e:
            record.status = StepStatus.FAILED
            record.detail = record.detail or str(e)
            record.ended = time.time()
            self._emit(record)
            gate = e.gate if isinstance(e, GateFailed) else None
            raise _Failed(name, str(e), gate=gate) from e
        record.ended = time.time()
        self._emit(record)

    def _emit(self, record: StepRecord) -> None:
        if self.on_step is not None:
            self.on_step(record)

    def _skip(self, result: CutoverResult, name: str, why: str) -> None:
        now = time.time()
        record = StepRecord(name=name, status=StepStatus.SKIPPED, started=now, ended=now,
                            detail=why)
        result.steps.append(record)
        self._emit(record)

    def _check_gate(self, step: str, since: float) -> str:
        """The gate's verdict on the SLOs since ``since``: its detail, or
        :class:`GateFailed`. Fails closed: with no gate configured nothing moves (only an
        explicit :data:`NO_GATE` passes without one)."""
        if self.gate is None:
            raise GateFailed(
                step,
                "no SLO gate configured (this stack has no Prometheus): fix that, or pass "
                "--no-gate to move without one",
            )
        passed, detail = self.gate(step, since, time.time())
        if not passed:
            raise GateFailed(step, detail)
        return detail

    def _ehr_role(self, region: str) -> tuple[str | None, bool]:
        url = self.cluster.ehr_urls.get(region)
        if url is None:
            return None, True
        r = httpx.get(f"{url}/readyz", timeout=2.0)
        if r.status_code != 200:
            return None, True
        body = r.json()
        return body.get("role"), bool(body.get("read_only"))

    def _wait_writable(self, region: str) -> str:
        """Wait until the region's EHR reports a writable primary (skipped without an URL)."""
        if region not in self.cluster.ehr_urls:
            return "no EHR URL known; database promoted"
        deadline = time.monotonic() + self.options.ready_timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                role, read_only = self._ehr_role(region)
                if role == "primary" and not read_only:
                    return f"EHR {region} serves writes"
                last = f"role={role} read_only={read_only}"
            except httpx.HTTPError as e:
                last = type(e).__name__
            time.sleep(0.05)
        raise RunbookError(f"EHR {region} not writable after "
                           f"{self.options.ready_timeout_s:.0f}s ({last})")

    def _wait_router_up(self, region: str) -> None:
        """Wait until the router's health checks see ``region`` UP (rise takes a few s)."""
        if self.router is None:
            return
        deadline = time.monotonic() + self.options.ready_timeout_s
        while True:
            info = self.router.servers().get(region)
            if info is not None and info.up:
                return
            if time.monotonic() >= deadline:
                raise PrecheckFailed(f"router sees {region} as "
                                     f"{info.status if info else 'missing'}")
            time.sleep(0.2)

    # -- plans -----------------------------------------------------------------------

    def plan(self, kind: str, source: str, target: str) -> list[str]:
        """The steps ``kind`` (``migrate`` or ``failover``) would run, in order."""
        if kind == "failover":
            steps = [f"fence {source}", f"route every request to {target}", f"promote {target}",
                     f"wait until {target} serves writes"]
            if self.options.rebuild:
                steps += [f"rebuild {source} as a standby of {target}",
                          f"restore {self.cluster.replication} commit on {target}"]
            return [*steps, "reload router with the new primary", "record roles"]
        return [
            f"precheck: {target} healthy", f"precheck: {target} replication streaming",
            f"precheck: lag under {self.options.max_lag_bytes} B / {self.options.max_lag_s}s",
            "precheck: error budget", "notice: schedule maintenance",
            *(f"shift reads {p}% to {target}" for p in self.options.read_steps),
            f"drain writes on {source}", f"fence {source}", f"wait for replay on {target}",
            f"promote {target}", f"route writes to {target}",
            f"rebuild {source} as a standby of {target}",
            f"restore {self.cluster.replication} commit on {target}",
            "reload router with the new primary", "record roles", "postcheck and gate",
            "notice: complete maintenance",
        ]

    def dry_run(self, kind: str, source: str, target: str) -> CutoverResult:
        result = CutoverResult(kind=kind, source=source, target=target,
                               gate_skipped=self.gate_skipped, status=CutoverStatus.PLANNED)
        self._validate(source, target)
        now = time.time()
        result.steps = [StepRecord(name=n, status=StepStatus.PLANNED, started=now, ended=now)
                        for n in self.plan(kind, source, target)]
        result.ended = now
        return result

    def _check_recorded_roles(self) -> None:
        """Refuse to act when a reachable database contradicts its recorded role.

        ``chartguard up`` after a migration rewrites ``deployment.json`` from the Pulumi
        stack's (older) roles; acting on that would fence the real primary.
        """
        for name, spec in self.cluster.databases.items():
            try:
                with connect(spec, connect_timeout=2) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            except psycopg.Error:
                continue  # an unreachable server is what failover is for
            actual = "standby" if row and row[0] else "primary"
            if actual != spec.role:
                raise PrecheckFailed(
                    f"the deployment file says {name} is {spec.role}, but its database is "
                    f"a {actual} (was `chartguard up` run after a migration?); nothing changed")

    def _validate(self, source: str, target: str) -> None:
        self.cluster.db(source)
        self.cluster.db(target)
        if source == target:
            raise PrecheckFailed(f"source and target are both {source!r}")
        if self.cluster.primary != source:
            raise PrecheckFailed(f"{source!r} is not the primary "
                                 f"(the primary is {self.cluster.primary!r})")
        if self.cluster.databases[target].role != "standby":
            raise PrecheckFailed(f"{target!r} is not a standby")

    # -- migrate ---------------------------------------------------------------------

    def migrate(self, source: str, target: str) -> CutoverResult:
        """Planned move of the primary role from ``source`` to ``target`` (see module doc)."""
        self._validate(source, target)
        self._check_recorded_roles()
        result = CutoverResult(kind="migrate", source=source, target=target,
                               gate_skipped=self.gate_skipped, status=CutoverStatus.SUCCEEDED)
        if self.probe is not None and not self.probe.running:
            self.probe.start()
        notice: str | None = None
        router_before = self.router.current_states() if self.router else {}
        promoted = False
        fenced = False
        try:
            notice = self._prechecks(result, source, target)
            self._shift_reads(result, target)
            self._switch(result, source, target, drain=True)
            fenced = True
            promoted = True
            with self._step(result, "postcheck and gate") as step:
                step.detail = self._postcheck(result, target)
        except _Failed as failure:
            result.reason = f"{failure.step}: {failure.reason}"
            result.failed_gate = failure.gate or failure.step
            fenced = fenced or any(s.name == f"fence {source}" for s in result.steps)
            promoted = promoted or any(
                s.name == f"promote {target}" and s.status is StepStatus.OK for s in result.steps)
            self._recover(result, source, target, router_before, fenced=fenced,
                          promoted=promoted)
        finally:
            self._finish(result, notice)
        return result

    def _prechecks(self, result: CutoverResult, source: str, target: str) -> str | None:
        src, dst = self.cluster.db(source), self.cluster.db(target)
        with self._step(result, f"precheck: {target} healthy") as step:
            with connect(dst, connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if not (row and row[0]):
                raise PrecheckFailed(f"{target} database is not in recovery (not a standby)")
            try:
                role, _ = (self._ehr_role(target) if target in self.cluster.ehr_urls
                           else ("-", True))
            except httpx.HTTPError as e:
                raise PrecheckFailed(f"{target} EHR is not ready ({type(e).__name__})") from e
            if role is None:
                raise PrecheckFailed(f"{target} EHR is not ready")
            self._wait_router_up(target)
            step.detail = "database in recovery, EHR ready, router UP"
        with self._step(result, f"precheck: {target} replication streaming") as step:
            state = replication_state(src, target)
            if not state.streaming:
                raise PrecheckFailed(f"{target} is not streaming from {source}")
            step.detail = f"sync_state={state.sync_state}"
        with self._step(result, f"precheck: lag under {self.options.max_lag_bytes} B / "
                                f"{self.options.max_lag_s}s") as step:
            lag_b, lag_s = state.lag_bytes, state.replay_lag_s
            if lag_b is None or lag_b > self.options.max_lag_bytes:
                raise GateFailed("replication lag", f"{lag_b} bytes behind")
            if lag_s is None or lag_s > self.options.max_lag_s:
                raise GateFailed("replication lag", f"{lag_s}s behind")
            step.detail = f"{lag_b} B, {lag_s:.2f}s"
        with self._step(result, "precheck: error budget") as step:
            step.detail = self._check_gate("error budget", time.time() - 300)
        if self.notices is None:
            self._skip(result, "notice: schedule maintenance", "no status service configured")
            return None
        try:
            notice = self.notices.open(source=source, target=target)
        except RunbookError as e:
            # The status service does not share fate with the regions; the move itself
            # does not depend on it, but the record says practices were not told.
            self._skip(result, "notice: schedule maintenance", f"practices NOT notified: {e}")
            return None
        now = time.time()
        latency = getattr(self.notices, "latency_s", None)
        result.notice_latency_s = latency
        shown = "" if latency is None else f", on the practice banner after {latency:.1f}s"
        record = StepRecord(name="notice: schedule maintenance", status=StepStatus.OK,
                            started=now, ended=now, detail=f"maintenance {notice}{shown}")
        result.steps.append(record)
        self._emit(record)
        return notice

    def _shift_reads(self, result: CutoverResult, target: str) -> None:
        """Move reads to ``target`` in steps (its share of the read weight), gating after each.

        Needs the router's read backend; a router without one (one backend for reads and
        writes) cannot weight reads without also sending writes to a read-only region.
        """
        if self.router is None or READ_BACKEND not in self.router.backends():
            for p in self.options.read_steps:
                self._skip(result, f"shift reads {p}% to {target}",
                           f"router has no {READ_BACKEND} backend (one backend for reads "
                           "and writes); reads move with the cutover")
            return
        reads = RouterControl(self.router.socket_path, backend=READ_BACKEND)
        self._read_weights_before = reads.weights()
        since = time.time()
        for p in self.options.read_steps:
            with self._step(result, f"shift reads {p}% to {target}") as step:
                others = [name for name in reads.servers() if name != target]
                reads.set_weight(target, p)
                for name in others:
                    reads.set_weight(name, (100 - p) // max(len(others), 1))
                time.sleep(self.options.read_step_hold_s)
                step.detail = self._check_gate(f"reads {p}%", since)

    def _restore_reads(self) -> None:
        """Put the read weights back as they were before :meth:`_shift_reads`."""
        if self.router is None or not self._read_weights_before:
            return
        reads = RouterControl(self.router.socket_path, backend=READ_BACKEND)
        for name, weight in self._read_weights_before.items():
            reads.set_weight(name, weight)

    def _switch(self, result: CutoverResult, source: str, target: str, *, drain: bool) -> None:
        """Drain/fence ``source``, promote ``target``, route to it, rebuild ``source``."""
        src, dst = self.cluster.db(source), self.cluster.db(target)
        stopped_writes = time.time()
        if drain:
            with self._step(result, f"drain writes on {source}") as step:
                held = self._announce(src, source, target)
                if self.router is not None:
                    self.router.route_all_to(target)
                time.sleep(self.options.drain_s)
                step.detail = f"router sends new requests to {target}; {held}"
        with self._step(result, f"fence {source}") as step:
            step.detail = fencing.fence(src, stop_if_unreachable=not drain)
        if drain:
            with self._step(result, f"wait for replay on {target}") as step:
                lsn = wait_replayed(src, dst, timeout=self.options.replay_timeout_s)
                step.detail = f"replayed up to byte {lsn}"
        elif self.router is not None:
            with self._step(result, f"route every request to {target}") as step:
                self.router.route_all_to(target)
                step.detail = f"{source} in maintenance"
        with self._step(result, f"promote {target}") as step:
            promote(dst)
            step.detail = "pg_promote done"
        with self._step(result, f"route writes to {target}" if drain
                        else f"wait until {target} serves writes") as step:
            step.detail = self._wait_writable(target)
        result.write_unavailable_s = time.time() - stopped_writes
        self._clear_switchover(dst)
        self._serving_since = time.time()
        cluster = self.cluster.with_primary(target)
        pids: dict[str, dict[str, int]] = {}
        if self.options.rebuild:
            with self._step(result, f"rebuild {source} as a standby of {target}") as step:
                host, port = self.cluster.upstream_for(source, target)
                rebuilt = rebuild_as_standby(src, upstream_host=host, upstream_port=port)
                pids[source] = {"postgres": rebuilt.state.process.pid}
                if self.cluster.deployment_path is not None:
                    remember(self.cluster.deployment_path.parent, kind="postgres", name=source,
                             handle=rebuilt.state.process)
                if drain:
                    discard_old_data(rebuilt)  # every committed write was replayed first
                elif rebuilt.old_data_dir is not None:
                    result.kept_data_dir = str(rebuilt.old_data_dir)
                step.detail = f"streaming again after {rebuilt.seconds:.1f}s"
            with self._step(result, f"restore {cluster.replication} commit on {target}") as step:
                set_sync_standbys(cluster.db(target), cluster.standbys, mode=cluster.replication)
                step.detail = f"waits for {', '.join(cluster.standbys) or 'nobody'}"
        router_pid = None
        if self.cluster.router is not None and self.options.rebuild:
            with self._step(result, "reload router with the new primary") as step:
                new_spec, router_pid = reload_with_primary(self.cluster.router, target)
                handle = handle_for_pid(router_pid)
                if self.cluster.deployment_path is not None and handle is not None:
                    remember(self.cluster.deployment_path.parent, kind="router", name="router",
                             handle=handle)
                cluster = _with_router(cluster, new_spec)
                self.router = RouterControl(new_spec.socket_path)
                step.detail = f"{target} active, others backup (pid {router_pid})"
        with self._step(result, "record roles") as step:
            if not self.options.rebuild:
                cluster = self.cluster.with_primary(target)
            cluster.record_roles(pids=pids, router_pid=router_pid)
            step.detail = str(cluster.deployment_path or "no deployment file")
        self.cluster = cluster

    def _announce(self, src: PostgresSpec, source: str, target: str) -> str:
        """Tell the target's EHR (through the old primary) to hold writes while it is
        promoted; what was done, for the step's detail. Never fails the migration: a
        database without the switchover table just refuses writes for the cutover."""
        if self.options.write_hold_s <= 0:
            return "writes refused during the cutover (no hold)"
        try:
            announced = switchover.announce(app_dsn(src), source=source, target=target,
                                            hold_s=self.options.write_hold_s)
        except EhrError as e:
            return f"writes NOT held, refused during the cutover ({e})"
        self._switchover_id = announced.id
        return f"{target} holds writes up to {self.options.write_hold_s:g}s until promoted"

    def _clear_switchover(self, primary: PostgresSpec) -> None:
        """End the hold (on whichever database is the primary now); harmless if gone."""
        if self._switchover_id is None:
            return
        try:
            switchover.clear(app_dsn(primary), switchover_id=self._switchover_id)
        except EhrError:
            pass  # the row expires by itself at hold_until
        self._switchover_id = None

    def _postcheck(self, result: CutoverResult, target: str) -> str:
        details = [self._wait_writable(target)]
        for standby in self.cluster.standbys:
            self._wait_router_up(standby)
            state = replication_state(self.cluster.db(target), standby)
            if not state.streaming:
                raise GateFailed("postcheck", f"{standby} is not streaming from {target}")
            details.append(f"{standby} streaming")
        # The SLOs since the new primary took writes: the seconds of refused writes
        # before are the cutover RTO, measured and reported on their own.
        # A few seconds after the switch: scrapes and rate() extrapolation at the edge
        # of the window would otherwise pull the refused writes just before it in.
        since = getattr(self, "_serving_since", result.started) + 3.0
        wait = since + self.options.settle_s - time.time()
        if wait > 0:
            time.sleep(wait)
        details.append(self._check_gate("postcheck", since))
        return "; ".join(details)

    def _recover(self, result: CutoverResult, source: str, target: str,
                 router_before: dict[str, str], *, fenced: bool, promoted: bool) -> None:
        if not promoted:
            # Nothing irreversible happened: give the old primary its role back.
            try:
                if fenced:
                    fencing.unfence(self.cluster.db(source))
                if self.router is not None and router_before:
                    self.router.restore(router_before)
                self._restore_reads()
                self._clear_switchover(self.cluster.db(source))
                result.status = CutoverStatus.ROLLED_BACK
            except RunbookError as e:
                result.status = CutoverStatus.FAILED
                result.reason += f"; rollback failed: {e}"
            return
        done = any(s.name == "record roles" and s.status is StepStatus.OK for s in result.steps)
        if done and self.options.rollback_on_postcheck:
            # The way back is not gated: the failed gate is why it runs.
            back = Cutover(self.cluster, options=self.options, on_step=self.on_step,
                           gate=SkippedGate("moving back after a failed gate"))
            back.options = CutoverOptions(**{**self.options.__dict__, "read_steps": ()})
            rollback = back.migrate(target, source)
            self.cluster = back.cluster
            result.rollback = rollback
            result.status = (CutoverStatus.ROLLED_BACK if rollback.status is
                             CutoverStatus.SUCCEEDED else CutoverStatus.FAILED)
            if rollback.status is not CutoverStatus.SUCCEEDED:
                result.reason += f"; migrating back to {source} failed: {rollback.reason}"
            return
        result.status = CutoverStatus.FAILED
        result.reason += (f"; {target} was already promoted and keeps the primary role "
                          f"({source} is fenced): finish by hand or run chartguard rollback")

    def _finish(self, result: CutoverResult, notice: str | None) -> None:
        if self.probe is not None:
            self.probe.stop()
            probe = self.probe.verify()
            result.acknowledged_writes = len(probe.acknowledged)
            result.lost_writes = len(probe.lost)
            result.rpo_writes = len(probe.lost)
            result.rto_s = probe.longest_gap()
        if notice is not None and self.notices is not None:
            try:
                self.notices.close(notice, ok=result.status is CutoverStatus.SUCCEEDED)
                now = time.time()
                record = StepRecord(name="notice: complete maintenance", status=StepStatus.OK,
                                    started=now, ended=now, detail=f"maintenance {notice} done")
                result.steps.append(record)
                self._emit(record)
            except RunbookError as e:
                result.reason += f"; closing the maintenance notice failed: {e}"
        result.ended = time.time()

    # -- failover --------------------------------------------------------------------

    def failover(self, target: str) -> CutoverResult:
        """Unplanned loss of the primary: fence it (or stop it), promote ``target``, route.

        No drain and no wait for replay: the old primary may be gone. In ``sync`` mode
        every acknowledged write was applied on the standby before it was acknowledged.
        """
        source = self.cluster.primary
        self._validate(source, target)
        self._check_recorded_roles()
        result = CutoverResult(kind="failover", source=source, target=target,
                               gate_skipped=self.gate_skipped, status=CutoverStatus.SUCCEEDED)
        if self.probe is not None and not self.probe.running:
            try:
                self.probe.start()
            except RunbookError as e:
                # Nothing may delay a failover, least of all its own measurement.
                self._skip(result, "start write probe", f"no probe: {e}")
                self.probe = None
        try:
            self._switch(result, source, target, drain=False)
        except _Failed as failure:
            result.status = CutoverStatus.FAILED
            result.failed_gate = failure.gate or failure.step
            result.reason = f"{failure.step}: {failure.reason}"
        finally:
            self._finish(result, None)
        return result


def _with_router(cluster: LocalCluster, spec: RouterSpec) -> LocalCluster:
    return replace(cluster, router=spec)
