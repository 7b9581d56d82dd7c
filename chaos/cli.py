"""``chartguard chaos list|show|run|rollback``: the only place chaos prints or exits.

Exit codes of ``run``: 0 the hypothesis held, 1 it deviated during or after, 2 bad input
(nothing changed), 3 aborted (it failed before; no fault applied), 4 the run failed (an
error; rolled back), 5 interrupted (SIGINT/SIGTERM; rolled back), 6 the rollback itself
failed (run ``chaos rollback``). ``rollback`` exits 0 when everything was undone, else 6.
"""

from __future__ import annotations

import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chaos.adapter import ToxiproxyAdapter
from chaos.deployment import Deployment
from chaos.errors import ChaosError, RecordError
from chaos.journal import RunResult, RunStatus
from chaos.library import find_scenario, library_paths
from chaos.links import LinkMap
from chaos.metrics import FaultGauge
from chaos.plan import build_plan
from chaos.record import FaultRecord
from chaos.rollback import pending_records, refuse_live_run, roll_back_record
from chaos.runner import Runner
from chaos.scenario import Phase
from chaos.scrape import list_run
from chaos.settings import ChaosSettings
from chaos.timestamps import parse_start_at
from infra.envcheck import describe_settings_error

EXIT_CODES = {
    RunStatus.COMPLETED: 0,
    RunStatus.DEVIATED: 1,
    RunStatus.ABORTED: 3,
    RunStatus.FAILED: 4,
    RunStatus.INTERRUPTED: 5,
}
TIME_SCALE_HELP = (
    "nominal scenario seconds played per real second (10: ten times faster); the same "
    "meaning as `load run --time-scale`"
)
EXIT_BAD_INPUT = 2
EXIT_ROLLBACK_FAILED = 6

err = Console(stderr=True)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    sys.exit(code)


def _settings() -> ChaosSettings:
    """The settings from ``CHARTGUARD_*``; a bad variable is one sentence naming it."""
    try:
        return ChaosSettings()
    except ValidationError as e:
        _fail(describe_settings_error(e))
        raise  # unreachable: _fail exits


@click.group()
def chaos() -> None:
    """Network-brownout chaos through Toxiproxy, always rolled back."""


@chaos.command("list")
def list_cmd() -> None:
    """List the scenario library."""
    table = Table("name", "title", "models", box=None)
    for path in library_paths():
        try:
            s = find_scenario(path.stem)
        except ChaosError as e:
            table.add_row(path.stem, "[red]invalid[/]", str(e))
            continue
        table.add_row(s.name, s.title, _first_sentence(s.models))
    Console().print(table)


def _first_sentence(text: str) -> str:
    """The first sentence of a (possibly line-wrapped) YAML text block, whole: its first
    line alone broke sentences mid-way."""
    flat = " ".join(text.split())
    end = flat.find(". ")
    return flat if end < 0 else flat[: end + 1]


@chaos.command()
@click.argument("scenario")
@click.option("--time-scale", type=float, default=1.0, show_default=True, help=TIME_SCALE_HELP)
def show(scenario: str, time_scale: float) -> None:
    """Validate and describe SCENARIO (a library name or a file)."""
    try:
        s = find_scenario(scenario)
        plan = build_plan(s, time_scale=time_scale)
    except ChaosError as e:
        _fail(str(e))
        return
    click.echo(f"{s.name}: {s.title}\n\nmodels: {s.models.strip()}\n\n{s.description.strip()}\n")
    click.echo(f"hypothesis: {s.hypothesis.title}")
    for probe in s.hypothesis.probes:
        fields = probe.model_dump(mode="json", exclude={"name", "type"}, exclude_defaults=True)
        click.echo(f"  - {probe.name} ({probe.type}) {fields}")
    click.echo(f"\ntimeline (duration {plan.duration_s:g}s, time scale {time_scale:g}):")
    for line in plan.lines():
        click.echo(f"  {line}")


def _vars(entries: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise ChaosError(f"--var: {entry!r} must look like NAME=VALUE")
        out[key] = value
    return out


def _progress_display(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.fields[scenario]}"),
        BarColumn(),
        TextColumn("{task.completed:>6.1f}/{task.total:.1f}s"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        disable=not enabled,
        transient=False,
    )


@chaos.command()
@click.argument("scenario")
@click.option("--toxiproxy", "toxiproxy_url", help="Toxiproxy API URL (default: deployment/env).")
@click.option("--links", "links", multiple=True, help="LINK=PROXY[,LINK=PROXY...] name mapping.")
@click.option("--deployment", "deployment_path", type=click.Path(path_type=Path), default=None)
@click.option("--var", "variables", multiple=True, help="NAME=VALUE for ${NAME} in probe URLs.")
@click.option("--dry-run", is_flag=True, help="Print the timeline; change nothing.")
@click.option("--start-at", help="Shared wall-clock start (epoch seconds or ISO 8601).")
@click.option("--delay", type=float, default=None, help="Start after this many seconds.")
@click.option("--time-scale", type=float, default=1.0, show_default=True, help=TIME_SCALE_HELP)
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), default=None)
@click.option("--record", "record_path", type=click.Path(path_type=Path), default=None)
@click.option("--metrics-port", type=int, default=None,
              help="Serve the fault gauge on this loopback port (on a stack, it is served on a "
              "free port anyway and listed for its Prometheus).")
@click.option("--metrics-textfile", type=click.Path(path_type=Path), default=None)
@click.option("--progress/--no-progress", default=True, show_default=True)
def run(
    scenario: str,
    toxiproxy_url: str | None,
    links: tuple[str, ...],
    deployment_path: Path | None,
    variables: tuple[str, ...],
    dry_run: bool,
    start_at: str | None,
    delay: float | None,
    time_scale: float,
    journal_path: Path | None,
    record_path: Path | None,
    metrics_port: int | None,
    metrics_textfile: Path | None,
    progress: bool,
) -> None:
    """Run SCENARIO (a library name or a file) and roll everything back."""
    settings = _settings()
    try:
        s = find_scenario(scenario)
        link_map = LinkMap.parse(links)
        extra_vars = _vars(variables)
        if start_at is not None and delay is not None:
            raise ChaosError("--start-at and --delay exclude each other")
        if delay is not None and delay < 0:
            raise ChaosError("--delay must be >= 0")
        begin = parse_start_at(start_at) if start_at else None
        if delay is not None:
            begin = time.time() + delay
        path = deployment_path or settings.deployment_path
        deployment = Deployment.load(path) if deployment_path or path.exists() else None
        url = toxiproxy_url or (deployment.toxiproxy_url if deployment else None)
        adapter = ToxiproxyAdapter(
            url or settings.toxiproxy_url, timeout_s=settings.toxiproxy_timeout_s
        )
        if dry_run:
            proxies = adapter.proxies() if toxiproxy_url else None
            plan = build_plan(
                s, time_scale=time_scale, links=link_map, proxies=proxies, deployment=deployment
            )
            click.echo(f"{s.name}: {s.title} (dry run against {adapter.url}; nothing changed)")
            for line in plan.lines():
                click.echo(f"  {line}")
            return
    except (ChaosError, ValueError) as e:
        _fail(str(e))
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    journal = journal_path or settings.stack_dir / "chaos" / f"{s.name}-{stamp}.json"
    gauge = FaultGauge(textfile=metrics_textfile)
    run_id = uuid.uuid4().hex[:12]
    # On a stack whose Prometheus discovers targets, the gauge is always served (on a free
    # port unless --metrics-port) and listed there: fault windows land beside the SLOs.
    listed = settings.scrape_dir.is_dir()
    with ExitStack() as stack, _progress_display(progress) as bar:
        if metrics_port is not None or listed:
            try:
                bound = gauge.serve(metrics_port or 0)
            except (ChaosError, OSError) as e:
                _fail(f"--metrics-port: {e}")
            stack.callback(gauge.close)
            err.print(f"fault gauge on http://127.0.0.1:{bound}/metrics")
            if listed:  # kept past the rollback for one more scrape (it sees the 0s)
                try:
                    stack.enter_context(list_run(settings.scrape_dir, run_id=run_id,
                                                 address=f"127.0.0.1:{bound}", scenario=s.name))
                except (ChaosError, OSError) as e:
                    _fail(f"cannot list the fault gauge for Prometheus: {e}")
        task = bar.add_task("planning", total=1.0, scenario=s.name)

        def on_progress(what: str, elapsed: float, total: float) -> None:
            bar.update(task, description=what, completed=elapsed, total=max(total, 0.001))

        runner = Runner(
            s,
            adapter=adapter,
            record_path=record_path or settings.record_dir / f"{s.name}.json",
            links=link_map,
            deployment=deployment,
            variables=extra_vars,
            time_scale=time_scale,
            start_at=begin,
            journal_path=journal,
            gauge=gauge,
            on_progress=on_progress,
            run_id=run_id,
        )
        with runner:
            result = runner.run()
    _report(result, journal)
    if result.rollback is None or not result.rollback.ok:  # missing = did not finish
        sys.exit(EXIT_ROLLBACK_FAILED)
    sys.exit(EXIT_CODES[result.status])


def _report(result: RunResult, journal: Path) -> None:
    verdicts = ", ".join(f"{p}: {result.verdict(p)}" for p in Phase)
    click.echo(f"{result.scenario}: {result.status} ({verdicts})")
    if result.error:
        click.echo(f"  error: {result.error}")
    rb = result.rollback
    if rb is None:
        click.echo("  rollback: DID NOT FINISH (run `chartguard chaos rollback`)")
    else:
        state = "ok" if rb.ok else "FAILED: " + "; ".join(rb.errors)
        click.echo(f"  rollback: {state} ({len(rb.undone)} fault(s) undone)")
    click.echo(f"  journal: {journal}")


@chaos.command()
@click.option("--record", "record_path", type=click.Path(path_type=Path), default=None)
@click.option("--toxiproxy", "toxiproxy_url", help="Override the server named in the record.")
@click.option("--reset", is_flag=True, help="Instead: clear every toxic, enable every proxy.")
@click.option(
    "--force", is_flag=True, help="Also undo the faults of a run that is still running."
)
def rollback(record_path: Path | None, toxiproxy_url: str | None, reset: bool, force: bool) -> None:
    """Undo what killed runs left behind, from their crash-safe records.

    Without --record, every record under .state/<stack>/chaos/records not yet rolled back.
    A record whose run is still alive is refused (it rolls back by itself when it ends),
    and then nothing is changed, unless --force.
    """
    settings = _settings()
    try:
        if reset:
            adapter = ToxiproxyAdapter(toxiproxy_url or settings.toxiproxy_url)
            removed, enabled = adapter.remove_all_toxics(), adapter.enable_all()
            click.echo(f"removed {removed} toxic(s), enabled {enabled} proxy(ies) on {adapter.url}")
            return
        paths = [record_path] if record_path else pending_records(settings.record_dir)
        if not force:
            _refuse_live_runs(paths)
        results = [
            roll_back_record(
                path,
                toxiproxy_url=toxiproxy_url,
                timeout_s=settings.toxiproxy_timeout_s,
                force=True,  # checked above, for all of them before changing any
            )
            for path in paths
        ]
    except ChaosError as e:
        _fail(str(e))
        return
    for path, result in zip(paths, results, strict=True):
        for line in result.undone:
            click.echo(f"{path}: undone {line}")
        for line in result.errors:
            click.echo(f"{path}: FAILED {line}")
    if not all(r.ok for r in results):
        sys.exit(EXIT_ROLLBACK_FAILED)
    click.echo("rollback complete" if any(r.undone for r in results) else "nothing to roll back")


def _refuse_live_runs(paths: list[Path]) -> None:
    """:class:`ChaosError` naming every record among ``paths`` whose run is still alive."""
    problems = []
    for path in paths:
        record = FaultRecord(path)
        record.load()
        try:
            refuse_live_run(record)
        except RecordError as e:
            problems.append(str(e))
    if problems:
        raise RecordError("; ".join(problems) + " (nothing was changed)")
