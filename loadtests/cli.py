"""``chartguard load``: full-load rehearsals (``run``), the ledger check (``verify``), and
the distributed-mode worker (``worker``).

Locust is imported only inside ``run`` and ``worker`` (it monkey-patches the process).
Exit codes of ``run``: 0 pass, 1 fail, 3 the generator was the bottleneck, 4 no data,
2 bad input. ``verify``: 0 nothing lost or corrupted, 1 otherwise, 2 bad input.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadtests.curves import SHAPES
from loadtests.errors import LoadtestError
from loadtests.generator_capacity import workers_help
from loadtests.profile import DEFAULT_PROFILE, load_profile, parse_profile
from loadtests.settings import LoadSettings

if TYPE_CHECKING:
    from loadtests.runner import Progress

INPUT_ERROR = 2

_console = Console(stderr=True)


class LiveDisplay:
    """A live status table refreshed once a second during the run."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.live: Live | None = None
        self.metrics_url: str | None = None

    def __enter__(self) -> LiveDisplay:
        if self.enabled:
            self.live = Live(Table(), console=_console, refresh_per_second=2, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def metrics_at(self, url: str) -> None:
        self.metrics_url = url

    def update(self, progress: Progress) -> None:
        if self.live is None:
            return
        table = Table(title=f"chartguard load — {progress.stage}", show_header=True)
        for column in ("time", "users", "req/s", "target req/s", "requests", "failures",
                       "p99 (10s)", "gen CPU"):  # fmt: skip
            table.add_column(column, justify="right")
        p99 = "-" if progress.p99_ms is None else f"{progress.p99_ms:.0f} ms"
        table.add_row(
            f"{progress.elapsed:.0f}/{progress.planned:.0f}s",
            f"{progress.users}/{progress.target_users}",
            f"{progress.rate:.1f}",
            f"{progress.target_rate:.1f}",
            str(progress.requests),
            str(progress.failures),
            p99,
            f"{progress.cpu_percent:.0f}%",
        )
        if self.metrics_url:
            table.caption = f"metrics: {self.metrics_url}"
        self.live.update(table)


def render_summary(data: dict[str, Any], out_dir: Path) -> None:
    """The run's endpoints, checks and verdict, on stdout."""
    console = Console(width=max(140, Console().width))
    table = Table(title=f"{data['shape']} against {data['target']}")
    for column in ("endpoint", "class", "requests", "failures", "req/s", "p50", "p95", "p99"):
        table.add_column(column, justify="left" if column in ("endpoint", "class") else "right")
    for row in [*data["endpoints"], data["total"]]:
        table.add_row(
            row["endpoint"], row["class"], str(row["requests"]), str(row["failures"]),
            f"{row['rps']:.2f}", *(_ms(row[k]) for k in ("p50_ms", "p95_ms", "p99_ms")),
        )  # fmt: skip
    console.print(table)
    for check in data["checks"]:
        mark = "ok  " if check["ok"] else "FAIL"
        console.print(f"{mark} {check['name']}: {check['observed']} (limit {check['limit']})")
    if data.get("capacity"):
        knee = data["capacity"]["knee"]
        console.print(f"knee: {knee}  broke at: {data['capacity']['broke_at']}")
    if data.get("ledger"):
        console.print(f"ledger: {data['ledger']}")
    for reason in data["reasons"]:
        console.print(f"- {reason}")
    console.print(f"verdict: [bold]{data['verdict'].upper()}[/bold]  ({out_dir / 'summary.json'})")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _fail(error: Exception) -> None:
    click.echo(f"chartguard load: {error}", err=True)
    sys.exit(INPUT_ERROR)


def _check_url(url: str, option: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint=option)
    return url.rstrip("/")


@click.group()
def load() -> None:
    """Full-load rehearsals with Locust and a ledger of every acknowledged write."""


@load.command()
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, path_type=Path),
              default=DEFAULT_PROFILE, show_default=True, help="traffic profile YAML")
@click.option("--shape", type=click.Choice(sorted(SHAPES)), default="monday-surge",
              show_default=True)
@click.option("--target", required=True, help="base URL of the EHR, the router, or any URL")
@click.option("--duration", type=click.FloatRange(0, min_open=True), default=None,
              help="real seconds; alone it compresses the whole shape into this time, "
                   "with --time-scale it stops the run early")
@click.option("--time-scale", type=click.FloatRange(0, 1_000_000, min_open=True), default=None,
              help="nominal seconds of the shape per real second (e.g. 300: a day in minutes)")
@click.option("--workers", type=click.IntRange(0, 256), default=0, show_default=True,
              help="local Locust worker processes (0: run in this process). " + workers_help())
@click.option("--remote-workers", type=click.IntRange(0, 4096), default=0, show_default=True,
              help="extra workers that join from other machines (`chartguard load worker`)")
@click.option("--master-bind", default="127.0.0.1", show_default=True,
              help="address the Locust master listens on for workers")
@click.option("--master-port", type=click.IntRange(0, 65535), default=0,
              help="port for workers (0: a free one)")
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write ledger (JSON lines) of every write")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="directory for summary.json and endpoints.csv")
@click.option("--fault-journal", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="chaos journal JSON: mark its fault windows in the summary")
@click.option("--slo", "slo_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="SLO spec (monitoring/slo.yaml): hold reads and writes to its "
                                 "latency objective instead of the profile's limits")
@click.option("--quiet", is_flag=True, help="no live progress display")
def run(profile_path: Path, shape: str, target: str, duration: float | None,
        time_scale: float | None, workers: int, remote_workers: int, master_bind: str,
        master_port: int, ledger: Path | None, out_dir: Path | None,
        fault_journal: Path | None, slo_path: Path | None, quiet: bool) -> None:  # fmt: skip
    """Play a load shape of a traffic profile against TARGET and judge it."""
    from loadtests.preflight import check_target
    from loadtests.slo import apply_slo, read_latency_slo

    target = _check_url(target, "--target")
    try:
        profile = load_profile(profile_path)
        if slo_path is not None:
            thresholds = apply_slo(profile.thresholds, *read_latency_slo(slo_path))
            profile = profile.model_copy(update={"thresholds": thresholds})
    except LoadtestError as e:
        _fail(e)
    try:
        settings = LoadSettings.from_env()
        # Before Locust is imported: a wrong port or an unseeded EHR is bad input, named.
        check_target(target, profile=profile, password=settings.seed_password,
                     timeout=settings.request_timeout_seconds)  # fmt: skip
    except LoadtestError as e:
        _fail(e)
    if out_dir is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out_dir = Path(".state") / "load" / f"run-{stamp}"

    from loadtests.runner import RunOptions, run_load  # imports Locust

    display = LiveDisplay(enabled=not quiet)
    options = RunOptions(
        profile=profile, shape=shape, target=target, out_dir=out_dir, duration=duration,
        time_scale=time_scale, workers=workers, remote_workers=remote_workers,
        master_bind=master_bind, master_port=master_port, ledger=ledger,
        fault_journal=fault_journal, settings=settings,
        progress=display.update, metrics=display.metrics_at,
    )  # fmt: skip
    try:
        with display:
            summary = run_load(options)
    except LoadtestError as e:
        _fail(e)
    render_summary(summary.to_dict(), out_dir)
    sys.exit(summary.exit_code)


@load.command()
@click.option("--ledger", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="ledger written by `chartguard load run --ledger`")
@click.option("--target", required=True, help="base URL of the current primary (or the router)")
@click.option("--standby", default=None, help="base URL of the standby to check as well")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="result JSON (default: <ledger>.verify.json)")
def verify(ledger: Path, target: str, standby: str | None, out_path: Path | None) -> None:
    """Read every ledger entry back and report lost / corrupted / recovered writes."""
    from loadtests.verify import verify_ledger

    target = _check_url(target, "--target")
    if standby is not None:
        standby = _check_url(standby, "--standby")
    try:
        settings = LoadSettings.from_env()
        result = verify_ledger(
            ledger, target=target, standby=standby, password=settings.seed_password,
            timeout=settings.request_timeout_seconds, concurrency=settings.verify_concurrency,
        )  # fmt: skip
    except LoadtestError as e:
        _fail(e)
    path = result.write(out_path or Path(f"{ledger}.verify.json"))
    data: dict[str, Any] = result.to_dict()
    click.echo(
        f"ledger: {data['entries']} entries ({data['acknowledged']} acknowledged, "
        f"{data['indeterminate']} indeterminate, {data['refused']} refused, "
        f"{data['torn_lines']} torn lines skipped)"
    )
    for report in data["targets"]:
        counts = report["counts"]
        click.echo(
            f"{report['role']:8} {report['url']}: ok {counts['ok']}, lost {counts['lost']}, "
            f"corrupted {counts['corrupted']}, unexpected {counts.get('unexpected', 0)}, "
            f"recovered {counts['recovered']}, unapplied {counts['unapplied']}, "
            f"unreadable {counts['unreadable']}, duplicated {counts.get('duplicated', 0)}"
        )
        for outcome in ("lost", "corrupted", "unexpected", "unreadable", "duplicated"):
            for ref in report["refs"].get(outcome, [])[:10]:
                click.echo(f"  {outcome}: {ref}")
    for problem in data["problems"]:
        click.echo(f"problem: {problem}")
    click.echo(f"verdict: {'PASS' if result.ok else 'FAIL'} ({path})")
    sys.exit(0 if result.ok else 1)


@load.command()
@click.option("--master-host", default="127.0.0.1", show_default=True)
@click.option("--master-port", type=click.IntRange(1, 65535), required=True)
@click.option("--index", type=click.IntRange(0), required=True,
              help="this worker's index (spreads people over practices)")
@click.option("--count", type=click.IntRange(1), required=True, help="workers in the run")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None)
@click.option("--profile-json", default=None, help="the profile as JSON (local workers)")
@click.option("--target", required=True)
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="ledger base path; this worker writes <ledger>.worker-<index>")
def worker(master_host: str, master_port: int, index: int, count: int,
           profile_path: Path | None, profile_json: str | None, target: str,
           ledger: Path | None) -> None:  # fmt: skip
    """A Locust worker of a distributed run (started by `run --workers`, or by hand)."""
    import json

    try:
        if profile_json is not None:
            profile = parse_profile(json.loads(profile_json), source="--profile-json")
        else:
            profile = load_profile(profile_path or DEFAULT_PROFILE)
    except (LoadtestError, ValueError) as e:
        _fail(e)

    from loadtests.runner import run_worker  # imports Locust

    run_worker(
        profile=profile, target=_check_url(target, "--target"), master_host=master_host,
        master_port=master_port, index=index, count=count, ledger=ledger,
        settings=LoadSettings(),
    )  # fmt: skip


@load.command(hidden=True)
@click.option("--target", required=True, help="a target that is never the limit (loopback)")
@click.option("--users", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--seconds", type=click.FloatRange(3, 600), default=12.0, show_default=True)
@click.option("--kind", type=click.Choice(["bare", "practice"]), default="bare", show_default=True,
              help="bare Locust users, or chartguard's practice users")
def probe(target: str, users: int, seconds: float, kind: str) -> None:
    """Measure one generator process's requests per second and per CPU-second against
    TARGET (prints JSON)."""
    import json

    from loadtests.probe import probe_generator  # imports Locust

    result = probe_generator(
        target=_check_url(target, "--target"), users=users, seconds=seconds, kind=kind
    )
    click.echo(json.dumps(result))
