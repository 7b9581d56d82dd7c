"""Run a load rehearsal headless with Locust's own Environment and runners.

``workers=0`` runs every user in this process (a :class:`locust.runners.LocalRunner`);
``workers=N`` makes this process a Locust master on loopback and starts N worker
processes (``chartguard load worker``), Locust's distributed mode, for loads one core
cannot generate. More workers can join from other machines (``remote_workers``; see the
docs/load.md).

While the shape plays, a sampler records the stats every second into a
:class:`~loadtests.timeline.Timeline`, feeds the live metrics endpoint and the progress
callback; at the end the run is judged (:func:`loadtests.verdict.judge`) and written as
``summary.json`` and ``endpoints.csv``. Importing this module imports Locust.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import locust.runners as locust_runners
from locust.env import Environment
from locust.runners import STATE_STOPPED, MasterRunner, Runner

from loadtests.capacity import StepCapacity
from loadtests.curves import Curve, Stage, build_curve, users_for
from loadtests.endpoints import classify, endpoint_name
from loadtests.errors import RunError, ShapeError
from loadtests.exporter import LoadSnapshot, serve_metrics
from loadtests.faults import read_fault_windows
from loadtests.ledger import LedgerWriter, read_history, write_manifest
from loadtests.profile import Profile
from loadtests.retry import retry_counts, retry_policy
from loadtests.settings import LoadSettings
from loadtests.shapes import CurveShape
from loadtests.summary import EndpointStats, RunSummary, compact_timeline, fault_window_stats
from loadtests.timeline import EndpointCounters, Timeline
from loadtests.users import Wiring, build_user_classes
from loadtests.verdict import Check, GeneratorHealth, Judgement, Verdict, judge

__all__ = ["Progress", "RunOptions", "run_load", "run_worker"]

# Report stats and CPU every second (Locust's defaults, 3 s and 10 s, blur short windows).
locust_runners.WORKER_REPORT_INTERVAL = 1.0
locust_runners.CPU_MONITOR_INTERVAL = 1.0


class _SpawnRateNoise(logging.Filter):
    """Drops Locust's "spawn rate is very high" warning, which it repeats at every shape
    tick: compressed shapes ramp faster than 100 users/s on purpose, and a dozen copies
    buried the run's summary. Every other Locust warning still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "spawn rate is very high" not in record.getMessage()


logging.getLogger(locust_runners.__name__).addFilter(_SpawnRateNoise())

# Seconds after the planned end before a run is stopped regardless (a stuck stop).
GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class Progress:
    """What the live display shows once a second."""

    elapsed: float
    planned: float
    stage: str
    users: int
    target_users: int
    rate: float
    target_rate: float
    requests: int
    failures: int
    p99_ms: float | None
    cpu_percent: float


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything ``chartguard load run`` decides; see :func:`run_load`."""

    profile: Profile
    shape: str
    target: str
    out_dir: Path
    duration: float | None = None
    time_scale: float | None = None
    workers: int = 0
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    master_port: int = 0
    ledger: Path | None = None
    fault_journal: Path | None = None
    settings: LoadSettings = field(default_factory=lambda: LoadSettings())
    progress: Callable[[Progress], None] | None = None
    metrics: Callable[[str], None] | None = None


def _resolve_clock(curve: Curve, duration: float | None, time_scale: float | None) -> float:
    if duration is not None and duration <= 0:
        raise ShapeError(f"duration must be positive seconds, got {duration}")
    if time_scale is not None and not 0 < time_scale <= 1_000_000:
        raise ShapeError(f"time scale must be in (0, 1000000], got {time_scale}")
    if time_scale is not None:
        return time_scale
    if duration is not None:
        return curve.total / duration
    return 1.0


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _counters(env: Environment) -> dict[str, EndpointCounters]:
    return {
        endpoint_name(method, name): EndpointCounters(
            entry.num_requests, entry.num_failures, dict(entry.response_times)
        )
        for (name, method), entry in list(env.stats.entries.items())
    }


def _cpu(runner: Runner) -> float:
    usages = [float(runner.current_cpu_usage)]
    if isinstance(runner, MasterRunner):
        usages += [float(worker.cpu_usage) for worker in runner.clients.values()]
    return max(usages)


def _endpoint_stats(env: Environment, seconds: float) -> tuple[EndpointStats, list[EndpointStats]]:
    def stats(name: str, endpoint_class: str, entry: Any) -> EndpointStats:
        has = entry.num_requests > 0
        return EndpointStats(
            name=name,
            endpoint_class=endpoint_class,
            requests=entry.num_requests,
            failures=entry.num_failures,
            rps=entry.num_requests / seconds if seconds > 0 else 0.0,
            p50_ms=float(entry.get_response_time_percentile(0.5)) if has else None,
            p95_ms=float(entry.get_response_time_percentile(0.95)) if has else None,
            p99_ms=float(entry.get_response_time_percentile(0.99)) if has else None,
            avg_ms=float(entry.avg_response_time) if has else None,
            max_ms=float(entry.max_response_time) if has else None,
        )

    endpoints = []
    for (name, method), entry in sorted(env.stats.entries.items()):
        full = endpoint_name(method, name)
        endpoints.append(stats(full, classify(full).value, entry))
    return stats("Total", "all", env.stats.total), endpoints


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM end the run cleanly (the summary and ledger are still written)."""
    handlers = [gevent.signal_handler(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        yield
    finally:
        for handler in handlers:
            handler.cancel()


class _Workers:
    """Local worker processes, each in its own process group so teardown kills them all."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, *, port: int, options: RunOptions, total: int) -> None:
        options.out_dir.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            argv = [
                sys.executable, "-m", "runbooks.cli", "load", "worker",
                "--master-host", "127.0.0.1", "--master-port", str(port),
                "--index", str(index), "--count", str(total),
                "--profile-json", options.profile.model_dump_json(),
                "--target", options.target,
            ]  # fmt: skip
            if options.ledger is not None:
                argv += ["--ledger", str(options.ledger)]
            log = (options.out_dir / f"worker-{index}.log").open("wb")
            self.processes.append(
                subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )
            log.close()

    def failed(self) -> list[int]:
        return [p.returncode for p in self.processes if p.poll() not in (None, 0)]

    def stop(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_for_workers(runner: MasterRunner, expected: int, workers: _Workers, timeout: float):
    deadline = time.monotonic() + timeout
    while runner.worker_count < expected:
        if workers.failed():
            raise RunError(f"a load worker exited early (exit codes {workers.failed()})")
        if time.monotonic() > deadline:
            raise RunError(
                f"only {runner.worker_count} of {expected} load workers connected in {timeout:.0f}s"
            )
        gevent.sleep(0.2)


def run_load(options: RunOptions) -> RunSummary:
    """Play ``options.shape`` of ``options.profile`` against ``options.target``; judge it.

    Returns the summary (also written to ``options.out_dir``). Raises :class:`RunError`
    (or :class:`ShapeError`) when the run cannot start; a run that starts always returns.
    """
    profile, settings = options.profile, options.settings
    curve = build_curve(options.shape, profile)
    time_scale = _resolve_clock(curve, options.duration, options.time_scale)
    planned = curve.total / time_scale
    if options.duration is not None:
        planned = min(planned, options.duration)
    fault_windows = read_fault_windows(options.fault_journal) if options.fault_journal else []
    total_workers = options.workers + options.remote_workers
    distributed = total_workers > 0

    ledger = None
    if options.ledger is not None and distributed:
        write_manifest(options.ledger, total_workers)  # verify names any part that is missing
    if options.ledger is not None and not distributed:
        ledger = LedgerWriter(
            options.ledger,
            fsync_entries=settings.ledger_fsync_entries,
            fsync_seconds=settings.ledger_fsync_seconds,
        )
    wiring = Wiring(
        profile=profile, password=settings.seed_password, ledger=ledger,
        timeout=settings.request_timeout_seconds, retry=retry_policy(settings),
    )  # fmt: skip
    timeline = Timeline()
    capacity = StepCapacity(profile.thresholds) if curve.stepped else None
    total_people = profile.total_people()

    def on_stage_end(stage: Stage, start: float, end: float) -> bool:
        if capacity is None or end - start <= 0:
            return True
        gevent.sleep(1.1)  # let the sampler take the stage's last second
        settled = start + (end - start) * 0.3
        fraction = stage.end
        result = capacity.record(
            stage.name,
            users=users_for(fraction, total_people),
            target_rate=fraction * profile.peak_rate(),
            window=timeline.window(settled, end),
        )
        return result.held

    shape = CurveShape(
        curve=curve, total_people=total_people, time_scale=time_scale,
        duration=options.duration, on_stage_end=on_stage_end,
        max_spawn_rate=profile.sign_ins_per_second,
    )  # fmt: skip
    env = Environment(
        user_classes=list(build_user_classes(wiring)),
        shape_class=shape,
        host=options.target.rstrip("/"),
        stop_timeout=settings.request_timeout_seconds + 1.0,
    )
    workers = _Workers()
    metrics_server = None
    runner: Runner
    try:
        if distributed:
            port = options.master_port or _free_port(options.master_bind)
            master = env.create_master_runner(options.master_bind, port)
            runner = master
            workers.start(options.workers, port=port, options=options, total=total_workers)
            _wait_for_workers(master, total_workers, workers, timeout=60.0)
        else:
            runner = env.create_local_runner()

        def snapshot() -> LoadSnapshot:
            recent = timeline.window(max(0.0, timeline.end - 10), timeline.end)
            return LoadSnapshot(
                endpoints=_counters(env),
                users=runner.user_count,
                target_users=shape.target_users,
                target_rate=profile.peak_rate() * shape.target_users / max(1, total_people),
                achieved_rate=recent.rate,
                cpu_percent=_cpu(runner),
                ledger=dict(ledger.counts) if ledger else {},
            )

        metrics_server, metrics_url = serve_metrics(
            snapshot, host=settings.metrics_host, port=settings.metrics_port
        )
        if options.metrics is not None:
            options.metrics(metrics_url)
        started_epoch = time.time()
        started = time.monotonic()
        interrupted: list[str] = []

        def stop() -> None:
            interrupted.append("signal")

        with _stop_on_signals(stop):
            runner.start_shape()
            deadline = started + planned + GRACE_SECONDS
            while True:
                gevent.sleep(1.0)
                sample = timeline.record(
                    time.monotonic() - started,
                    users=runner.user_count,
                    target_users=shape.target_users,
                    cpu_percent=_cpu(runner),
                    endpoints=_counters(env),
                )
                if options.progress is not None:
                    recent = timeline.window(max(0.0, sample.t - 10), sample.t)
                    options.progress(
                        Progress(
                            elapsed=sample.t,
                            planned=planned,
                            stage=shape.stage.name if shape.stage else "-",
                            users=sample.users,
                            target_users=sample.target_users,
                            rate=recent.rate,
                            target_rate=profile.peak_rate()
                            * shape.target_users
                            / max(1, total_people),
                            requests=env.stats.total.num_requests,
                            failures=env.stats.total.num_failures,
                            p99_ms=recent.percentile(0.99),
                            cpu_percent=sample.cpu_percent,
                        )
                    )
                if runner.shape_greenlet is None or interrupted:
                    break
                if time.monotonic() > deadline or (distributed and workers.failed()):
                    break
            # The shape's last active moment: the stop that follows is not part of any window.
            active_end = timeline.end if shape.ended_at is None else shape.ended_at
            if runner.state != STATE_STOPPED:
                runner.stop()
            if distributed:
                gevent.sleep(locust_runners.WORKER_REPORT_INTERVAL + 1.0)  # final reports
            seconds = time.monotonic() - started
            timeline.record(
                seconds,
                users=runner.user_count,
                target_users=0,
                cpu_percent=_cpu(runner),
                endpoints=_counters(env),
            )
        if ledger is not None:
            ledger.flush()
        return _summarize(
            options=options, env=env, curve=curve, time_scale=time_scale, timeline=timeline,
            capacity=capacity, seconds=seconds, started_epoch=started_epoch,
            metrics_url=metrics_url, fault_windows=fault_windows, interrupted=bool(interrupted),
            active_end=active_end,
        )  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            if env.runner is not None:
                env.runner.quit()
        workers.stop()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        if ledger is not None:
            ledger.close()


def _summarize(
    *,
    options: RunOptions,
    env: Environment,
    curve: Curve,
    time_scale: float,
    timeline: Timeline,
    capacity: StepCapacity | None,
    seconds: float,
    started_epoch: float,
    metrics_url: str,
    fault_windows: list[Any],
    interrupted: bool,
    active_end: float,
) -> RunSummary:
    profile = options.profile
    thresholds = profile.thresholds
    whole = timeline.window(0.0, timeline.end)
    measured = None
    target_rate = None
    generator = None
    if curve.measured is not None:
        nominal_start, nominal_end = curve.span(curve.measured)
        start, end = nominal_start / time_scale, nominal_end / time_scale
        settle = min(0.2 * (end - start), 10.0)
        fraction = curve.measured_fraction() or 0.0
        target_rate = fraction * profile.peak_rate()
        if start < active_end:
            measured = timeline.window(start + settle, min(end, active_end))
            generator = GeneratorHealth(
                cpu_mean_percent=measured.cpu_mean,
                cpu_max_percent=measured.cpu_max,
                users_min=measured.users_min,
                target_users=users_for(fraction, profile.total_people()),
            )
    if capacity is not None:
        judgement = _judge_capacity(profile, capacity, whole.requests)
    else:
        judgement = judge(
            thresholds=thresholds, run=whole, measured=measured, target_rate=target_rate,
            generator=generator,
        )  # fmt: skip
    if interrupted:
        judgement.reasons.append("the run was interrupted before its end")
        if judgement.verdict is Verdict.passed:
            judgement.verdict = Verdict.failed
    ledger_info: dict[str, Any] | None = None
    if options.ledger is not None:
        try:
            history = read_history(options.ledger)
        except Exception as e:  # report, do not hide the run's results
            ledger_info = {"path": str(options.ledger), "error": str(e)}
        else:
            counts: dict[str, int] = {}
            for entry in history.entries:
                counts[entry.status.value] = counts.get(entry.status.value, 0) + 1
            ledger_info = {"path": str(options.ledger), "entries": len(history.entries),
                           "torn_lines": history.torn_lines, **counts,
                           **retry_counts(history.entries)}  # fmt: skip
            # Its parts are closed after this (workers close theirs when they quit):
            # whether any is missing or short is for `load verify` to say.
    total, endpoints = _endpoint_stats(env, seconds)
    summary = RunSummary(
        profile=profile.summary(),
        shape=curve.name,
        target=options.target,
        time_scale=time_scale,
        workers=options.workers + options.remote_workers,
        started_epoch=started_epoch,
        seconds=seconds,
        total=total,
        endpoints=endpoints,
        judgement=judgement,
        target_rate=target_rate,
        measured=measured,
        capacity=None if capacity is None else capacity.to_dict(),
        ledger=ledger_info,
        faults=fault_window_stats(timeline, fault_windows, started_epoch),
        generator={
            "workers": options.workers,
            "remote_workers": options.remote_workers,
            "cpu_max_percent": round(whole.cpu_max, 1),
            "cpu_mean_percent": round(whole.cpu_mean, 1),
        },
        timeline=compact_timeline(timeline),
        metrics_url=metrics_url,
        errors=[
            {"endpoint": endpoint_name(e.method or "", e.name), "error": str(e.error),
             "occurrences": e.occurrences}
            for e in env.stats.errors.values()
        ],  # fmt: skip
    )
    summary.write(options.out_dir)
    return summary


def _judge_capacity(profile: Profile, capacity: StepCapacity, requests: int) -> Judgement:
    """Step-capacity passes when its knee carries at least the profile's peak rate."""
    if requests == 0 or not capacity.steps:
        return Judgement(Verdict.no_data, reasons=["no step completed: no data is no pass"])
    knee = capacity.knee
    needed = profile.peak_rate() * profile.thresholds.min_achieved_ratio
    observed = knee.rate if knee else 0.0
    check = Check(
        name="capacity_knee_rps",
        ok=observed >= needed,
        observed=observed,
        limit=needed,
        detail=f"knee at {knee.users} users" if knee else "no step held",
    )
    broke = next((s for s in capacity.steps if not s.held), None)
    if check.ok:
        return Judgement(Verdict.passed, [check])
    reasons = [f"the last step that held carried {observed:.2f} requests/s; the profile's peak "
               f"needs {needed:.2f}"]  # fmt: skip
    if broke is not None:
        reasons.append(f"{broke.step} broke: " + "; ".join(broke.reasons))
        if broke.generator_limited:
            reasons.append("the load generator was the bottleneck (its CPU saturated)")
            return Judgement(Verdict.generator_bottleneck, [check], reasons)
    return Judgement(Verdict.failed, [check], reasons)


def run_worker(
    *,
    profile: Profile,
    target: str,
    master_host: str,
    master_port: int,
    index: int,
    count: int,
    ledger: Path | None,
    settings: LoadSettings,
) -> None:
    """Run one Locust worker until its master quits; its ledger part is ``<ledger>.worker-N``."""
    writer = None
    if ledger is not None:
        writer = LedgerWriter(
            Path(f"{ledger}.worker-{index}"),
            worker=f"worker-{index}",
            fsync_entries=settings.ledger_fsync_entries,
            fsync_seconds=settings.ledger_fsync_seconds,
        )
    wiring = Wiring(
        profile=profile, password=settings.seed_password, ledger=writer,
        worker_index=index, worker_count=max(1, count), timeout=settings.request_timeout_seconds,
        retry=retry_policy(settings),
    )  # fmt: skip
    env = Environment(
        user_classes=list(build_user_classes(wiring)),
        host=target.rstrip("/"),
        stop_timeout=settings.request_timeout_seconds + 1.0,
    )
    runner = env.create_worker_runner(master_host, master_port)
    try:
        with _stop_on_signals(runner.quit):
            runner.greenlet.join()
    finally:
        if writer is not None:
            writer.close()
