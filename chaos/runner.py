"""The run: hypothesis before, the timeline on a real clock, checks during and after, and
a rollback that always happens.

``Runner`` is a context manager. Inside ``with``, the first SIGINT or SIGTERM raises
:class:`chaos.errors.Interrupted` (the previous handlers come back on exit) and disarms the
handler, so the ``finally`` that rolls back runs on success, on a deviation, on an exception
in a probe or the API, and on those signals, and no later signal can interrupt it: a signal
while disarmed is only remembered. The rollback counts as done only once it has finished,
so a rollback cut short is run again by the next ``finally`` (the run's, then ``__exit__``).
Every fault is written to the crash-safe record before it is applied, so
``chartguard chaos rollback`` can clean up after a SIGKILL; the journal is rewritten
(atomically, fsync'd) after every step, check and rollback, so a killed run leaves a
readable journal up to its last event (status ``running``).

``on_boundary`` is a test hook: it is called with the name of every point between two
steps of a run (``recorded``, ``checked:before``, ``applied:<n>``, ``method-ended``,
``rollback:begin``, ``undone:<fault>``, ``rollback:end``, ``checked:after``,
``finishing``), so a test can deliver a signal exactly there.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from chaos.adapter import ToxiproxyAdapter
from chaos.deployment import Deployment, freeze_process, kill_process, process_identity
from chaos.errors import ChaosError, DeploymentError, Interrupted
from chaos.journal import ActionEntry, HypothesisCheck, RunResult, RunStatus, Verdict
from chaos.links import LinkMap
from chaos.metrics import FaultGauge
from chaos.plan import Plan, PlannedStep, build_plan
from chaos.probes import ProbeRunner
from chaos.record import Fault, FaultRecord
from chaos.rollback import RollbackResult, note_restart, roll_back, undo_fault
from chaos.scenario import (
    AddToxic,
    DisableLink,
    EnableLink,
    Phase,
    RemoveToxic,
    Scenario,
    StartProcess,
    StopProcess,
)
from chaos.timestamps import now_stamp

__all__ = ["BoundaryHook", "ProgressCallback", "Runner"]

log = logging.getLogger(__name__)

# (what is happening, seconds elapsed in the method, method duration in seconds)
ProgressCallback = Callable[[str, float, float], None]
BoundaryHook = Callable[[str], None]
_TICK_S = 0.25


class Runner:
    """Runs one scenario against one Toxiproxy server; use as ``with Runner(...) as r: r.run()``."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        adapter: ToxiproxyAdapter,
        record_path: Path,
        links: LinkMap | None = None,
        deployment: Deployment | None = None,
        variables: Mapping[str, str] | None = None,
        time_scale: float = 1.0,
        start_at: float | None = None,
        journal_path: Path | None = None,
        gauge: FaultGauge | None = None,
        on_progress: ProgressCallback | None = None,
        handle_signals: bool = True,
        run_id: str | None = None,
        on_boundary: BoundaryHook | None = None,
    ) -> None:
        self.scenario = scenario
        self.adapter = adapter
        self.links = links or LinkMap()
        self.deployment = deployment
        self.variables = {**(deployment.variables if deployment else {}), **(variables or {})}
        self.time_scale = time_scale
        self.start_at = start_at
        self.journal_path = journal_path
        self.gauge = gauge if gauge is not None else FaultGauge()
        self.record = FaultRecord(record_path)
        self.on_progress = on_progress
        self.handle_signals = handle_signals
        self.on_boundary = on_boundary
        self.result = RunResult(
            run_id=run_id or uuid.uuid4().hex[:12],
            scenario=scenario.name,
            title=scenario.title,
            models=scenario.models,
            toxiproxy_url=adapter.url,
            time_scale=time_scale,
        )
        self.plan: Plan | None = None
        self._recording = False
        self._rolled_back = False
        self._rolling_back = False
        self._armed = False
        self._journal_lock = threading.Lock()
        self._pending_signal: int | None = None
        self._previous: dict[int, Any] = {}

    # -- context management and signals -------------------------------------------------

    def __enter__(self) -> Runner:
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        self._armed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._roll_back_all()
        finally:
            self._armed = False
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Remembered as well as raised: the run loop re-raises it on its next tick should
        # any code between here and there swallow the exception. Raised once: the handler
        # disarms itself, so a second signal cannot cut the rollback the first one started.
        # While disarmed (rolling back, finishing) a signal is only remembered.
        self._pending_signal = signum
        if self._armed:
            self._armed = False
            raise Interrupted(signum)

    def _raise_if_signalled(self) -> None:
        if self._pending_signal is not None and self._armed:
            self._armed = False
            raise Interrupted(self._pending_signal)

    def _boundary(self, name: str) -> None:
        if self.on_boundary is not None:
            self.on_boundary(name)

    def _save_journal(self) -> None:
        """Rewrite the journal as it stands (atomic, fsync'd); from any thread."""
        if self.journal_path is None:
            return
        with self._journal_lock:
            self.result.write(self.journal_path)

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run the scenario once; never raises for run outcomes, returns the result."""
        result = self.result
        try:
            with ProbeRunner(variables=self.variables) as probes:
                for probe in self.scenario.hypothesis.probes:
                    probes.url_of(probe)  # unresolved or non-loopback URLs fail here
                self.plan = build_plan(
                    self.scenario,
                    time_scale=self.time_scale,
                    links=self.links,
                    proxies=self.adapter.proxies(),
                    deployment=self.deployment,
                )
                self.record.begin(
                    run_id=result.run_id,
                    scenario=self.scenario.name,
                    toxiproxy_url=self.adapter.url,
                    deployment_path=self.deployment.path if self.deployment else None,
                )
                self._recording = True
                self._save_journal()
                self._boundary("recorded")
                self._wait_for_start()
                before = self._check(probes, Phase.BEFORE)
                self._boundary("checked:before")
                if not before.ok:
                    result.status = RunStatus.ABORTED
                    result.error = "steady-state hypothesis failed before the method"
                    return result
                self._method(probes, self.plan)
                self._boundary("method-ended")
                self._roll_back_all()
                self._after(probes, self.plan)
                self._boundary("checked:after")
                # The after-check may be retried until recovery_s: its last attempt counts.
                deviated = Verdict.FAILED in (
                    result.verdict(Phase.DURING),
                    result.verdict(Phase.AFTER),
                )
                result.status = RunStatus.DEVIATED if deviated else RunStatus.COMPLETED
        except Interrupted as e:
            result.status = RunStatus.INTERRUPTED
            result.error = str(e)
        except ChaosError as e:
            result.status = RunStatus.FAILED
            result.error = str(e)
        except Exception as e:  # recorded in the result and logged; the rollback still runs
            log.exception("chaos run %s failed unexpectedly", result.run_id)
            result.status = RunStatus.FAILED
            result.error = f"{type(e).__name__}: {e}"
        finally:
            self._armed = False
            self._boundary("finishing")
            self._roll_back_all()
            if result.status is RunStatus.RUNNING:  # left by something not caught above
                result.status = RunStatus.FAILED
            result.ended = now_stamp()
            self._save_journal()
        return result

    def _progress(self, what: str, elapsed: float) -> None:
        self._raise_if_signalled()
        if self.on_progress is not None:
            total = self.plan.duration_s if self.plan else 0.0
            self.on_progress(what, elapsed, total)

    def _wait_for_start(self) -> None:
        if self.start_at is None:
            return
        while (remaining := self.start_at - time.time()) > 0:
            self._progress(f"starting in {remaining:.0f}s", 0.0)
            time.sleep(min(remaining, _TICK_S))

    def _check(self, probes: ProbeRunner, phase: Phase) -> HypothesisCheck:
        self._raise_if_signalled()
        results = [probes.run(p) for p in self.scenario.hypothesis.probes if phase in p.when]
        check = HypothesisCheck(
            phase=phase, at=now_stamp(), ok=all(r.ok for r in results), probes=results
        )
        self.result.checks.append(check)
        self._save_journal()
        return check

    def _method(self, probes: ProbeRunner, plan: Plan) -> None:
        """Apply the steps on time; checks during run in a worker thread so that a slow probe
        (a hanging link is the point of the exercise) never delays a step."""
        self.result.method_started = now_stamp()
        t0 = time.monotonic()
        pending = list(plan.steps)
        next_check = plan.interval_s if plan.interval_s < plan.duration_s else math.inf
        in_flight: Future[HypothesisCheck] | None = None
        during_checks = 0
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chaos-probe")
        try:
            while True:
                now = time.monotonic() - t0
                while pending and pending[0].at_s <= now:
                    step = pending.pop(0)
                    self._progress(step.describe(), now)
                    self._execute(step)
                    self._boundary(f"applied:{step.index}")
                if in_flight is not None and in_flight.done():
                    in_flight.result()  # a probe error ends the run here
                    in_flight = None
                    during_checks += 1
                if now >= next_check:
                    if in_flight is None:  # never two checks at once: skip a beat instead
                        in_flight = pool.submit(self._check, probes, Phase.DURING)
                    while next_check <= now:
                        next_check += plan.interval_s
                if now >= plan.duration_s and not pending:
                    break
                upcoming = min(pending[0].at_s if pending else plan.duration_s, next_check)
                self._progress(f"{len(pending)} step(s) to go", now)
                time.sleep(max(0.0, min(upcoming - now, _TICK_S)))
            while in_flight is not None and not in_flight.done():  # faults stay on meanwhile
                self._progress("finishing the last check", plan.duration_s)
                time.sleep(0.05)
            if in_flight is not None:
                in_flight.result()
                during_checks += 1
            if during_checks == 0:
                self._check(probes, Phase.DURING)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _after(self, probes: ProbeRunner, plan: Plan) -> None:
        deadline = time.monotonic() + plan.recovery_s
        pause = min(1.0, max(0.1, plan.recovery_s / 10))
        while not self._check(probes, Phase.AFTER).ok and time.monotonic() < deadline:
            self._progress("waiting for recovery", plan.duration_s)
            time.sleep(pause)

    # -- applying faults -------------------------------------------------------------------

    def _fault_on(self, fault: Fault) -> None:
        self.gauge.set(
            scenario=self.scenario.name, link=fault.link_label, toxic=fault.toxic_label, active=True
        )

    def _fault_off(self, fault: Fault) -> None:
        self.gauge.set(
            scenario=self.scenario.name,
            link=fault.link_label,
            toxic=fault.toxic_label,
            active=False,
        )

    def _execute(self, step: PlannedStep) -> None:
        entry = ActionEntry(
            index=step.index,
            action=step.name,
            targets=[step.targets()] if step.process else list(step.proxies),
            offset_s=step.at_s,
            started=now_stamp(),
        )
        if step.toxic is not None:
            entry.detail = {"toxic": step.toxic.as_json()}
        self.result.actions.append(entry)
        try:
            self._apply(step)
            entry.ok = True
        except Exception as e:
            entry.error = str(e)
            raise
        finally:
            entry.ended = now_stamp()
            self._save_journal()

    def _apply(self, step: PlannedStep) -> None:
        action = step.action
        if isinstance(action, AddToxic):
            assert step.toxic is not None
            for proxy in step.proxies:
                fault = Fault(kind="toxic", proxy=proxy, toxic=step.toxic.name)
                self.record.add(fault)  # durable before the toxic exists
                self.adapter.add_toxic(proxy, step.toxic)
                self._fault_on(fault)
        elif isinstance(action, RemoveToxic):
            for proxy in step.proxies:
                fault = Fault(kind="toxic", proxy=proxy, toxic=action.toxic)
                self.adapter.remove_toxic(proxy, action.toxic)
                self.record.mark_undone(fault)
                self._fault_off(fault)
        elif isinstance(action, DisableLink):
            for proxy in step.proxies:
                fault = Fault(kind="link", proxy=proxy)
                self.record.add(fault)
                self.adapter.set_enabled(proxy, False)
                self._fault_on(fault)
        elif isinstance(action, EnableLink):
            for proxy in step.proxies:
                fault = Fault(kind="link", proxy=proxy)
                self.adapter.set_enabled(proxy, True)
                self.record.mark_undone(fault)
                self._fault_off(fault)
        elif isinstance(action, StopProcess):
            self._stop(step, action)
        elif isinstance(action, StartProcess):
            self._start(action)

    def _stop(self, step: PlannedStep, action: StopProcess) -> None:
        ref = step.process
        assert ref is not None
        identity = process_identity(ref.pid)
        if identity is None:
            raise DeploymentError(f"{ref.label}: pid {ref.pid} is not running")
        fault = Fault(
            kind="process",
            region=ref.region,
            component=ref.component,
            pid=ref.pid,
            identity=identity,
            mode=action.mode,
            argv=ref.argv,
            cwd=ref.cwd,
            env=ref.env,
            log=ref.log,
        )
        self.record.add(fault)
        if action.mode == "freeze":
            freeze_process(ref.pid)
        else:
            kill_process(ref.pid)
        self._fault_on(fault)

    def _start(self, action: StartProcess) -> None:
        for fault in self.record.active():
            if (fault.kind, fault.region, fault.component) == (
                "process",
                action.region,
                action.component,
            ):
                restarted = undo_fault(fault, self.adapter)
                if restarted != fault:
                    note_restart(restarted, record=self.record, deployment_path=self._deployed())
                self.record.mark_undone(restarted)
                self._fault_off(fault)

    # -- rollback --------------------------------------------------------------------------

    def _deployed(self) -> Path | None:
        return self.deployment.path if self.deployment else None

    def _undone(self, fault: Fault) -> None:
        self._fault_off(fault)
        self._boundary(f"undone:{fault.describe()}")

    def _roll_back_all(self) -> None:
        """Undo every fault still active and run the explicit rollbacks.

        Disarms first (a signal from here on is only remembered), and counts as done only
        once finished: one cut short (an error writing the record, a signal that landed
        before the disarm) runs again, whole and idempotently, from the next ``finally``.
        A run that recorded nothing gets an empty, successful result: a missing rollback
        result always means the rollback did not finish.
        """
        self._boundary("rollback:begin")
        armed, self._armed = self._armed, False
        if self._rolled_back or self._rolling_back:
            self._armed = armed
            return
        self._rolling_back = True
        try:
            if not self._recording:
                self.result.rollback = RollbackResult(ended=now_stamp())
                self._rolled_back = True
                return
            self.result.explicit_rollbacks.clear()
            result = roll_back(
                self.record.active(),
                adapter=self.adapter,
                record=self.record,
                on_undone=self._undone,
                deployment_path=self._deployed(),
            )
            for step in self.plan.rollbacks if self.plan else ():
                entry = ActionEntry(
                    index=step.index,
                    action=step.name,
                    targets=list(step.proxies) or [step.targets()],
                    offset_s=0.0,
                    started=now_stamp(),
                )
                try:
                    for fault in _undo_faults_of(step):
                        undo_fault(fault, self.adapter)
                    entry.ok = True
                except (ChaosError, OSError) as e:
                    entry.error = str(e)
                    result.ok = False
                    result.errors.append(f"rollbacks[{step.index}]: {e}")
                entry.ended = now_stamp()
                self.result.explicit_rollbacks.append(entry)
            result.ended = now_stamp()
            self.result.rollback = result
            self.record.finish("rolled_back" if result.ok else "rollback_failed")
            self._rolled_back = True
            self._save_journal()
        finally:
            self._rolling_back = False
            self._armed = armed  # a signal remembered meanwhile is raised at the next tick
        self._boundary("rollback:end")


def _undo_faults_of(step: PlannedStep) -> list[Fault]:
    """The faults an explicit rollback step undoes (idempotently)."""
    action = step.action
    if isinstance(action, RemoveToxic):
        return [Fault(kind="toxic", proxy=p, toxic=action.toxic) for p in step.proxies]
    if isinstance(action, EnableLink):
        return [Fault(kind="link", proxy=p) for p in step.proxies]
    if isinstance(action, StartProcess) and step.process is not None:
        return [
            Fault(
                kind="process",
                region=action.region,
                component=action.component,
                pid=step.process.pid,
                mode="freeze",
            )
        ]
    return []
