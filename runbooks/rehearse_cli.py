"""``chartguard rehearse [--quick] [--keep]``: the whole rehearsal, step by step, live.

Runs ``runbooks/rehearse.yml`` (bring up, baseline, surge + brownout + migration,
verify, gate, report, bring down), shows each task as it starts and ends, then
writes the final report (HTML, JSON, JUnit) with every step. The exit code is the
verdict: 0 pass, 1 fail, 2 bad input.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console

__all__ = ["rehearse"]

console = Console(stderr=True)
out = Console()
_COLOURS = {"ok": "green", "changed": "green", "failed": "bold red", "skipped": "yellow",
            "running": "cyan"}


def _out_dir(base: Path | None) -> Path:
    from runbooks.settings import RunbookSettings

    root = base or RunbookSettings.load().reports_dir  # loaded (checked) before this
    return root / time.strftime("rehearsal-%Y%m%dT%H%M%SZ", time.gmtime())


@click.group(invoke_without_command=True)
@click.option("--quick", is_flag=True, help="compressed phases for CI (a few minutes)")
@click.option("--keep", is_flag=True, help="leave the stack running afterwards")
@click.option("--no-up", "no_up", is_flag=True,
              help="use the stack that is already up (and never bring it down)")
@click.option("--from", "source", default="east", show_default=True)
@click.option("--to", "target", default="west", show_default=True)
@click.option("--out", "out_base", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="folder for the run's files (default: test-artifacts/runbooks)")
@click.option("--stack", default=None, help="stack name (default: CHARTGUARD_STACK)")
@click.option("--dry-run", is_flag=True, help="print the phases and change nothing")
@click.pass_context
def rehearse(ctx: click.Context, quick: bool, keep: bool, no_up: bool, source: str,
             target: str, out_base: Path | None, stack: str | None, dry_run: bool) -> None:
    """Rehearse the migration under Monday-morning load with a brownout, and gate it."""
    if ctx.invoked_subcommand is not None:
        return
    from runbooks.errors import RunbookError
    from runbooks.playbook import TaskRecord, run_playbook
    from runbooks.rehearsal import RehearsalFiles, RehearsalOptions, compose_record
    from runbooks.report import write_report
    from runbooks.settings import RunbookSettings

    try:
        settings = RunbookSettings.load()
        make = RehearsalOptions.quick if quick else RehearsalOptions
        options = make(keep=keep, up=not no_up, source=source, target=target)
    except RunbookError as e:
        console.print(f"[bold red]error:[/] {e}")
        sys.exit(2)
    name = stack or settings.stack
    if dry_run:
        scale = options.extravars(Path())["chaos_time_scale"]
        out.print(f"baseline {options.baseline_s}s {options.baseline_shape}; "
                  f"monday-surge {options.surge_s}s with {options.scenario} "
                  f"(time scale {scale}); migrate {source} -> {target} after "
                  f"{options.migrate_after_s}s; verify, gate, report; "
                  f"{'keep' if keep or no_up else 'down'}")
        return
    folder = _out_dir(out_base)
    files = RehearsalFiles(folder)
    started = time.time()

    def on_task(task: TaskRecord) -> None:
        at = task.started - started
        colour = _COLOURS.get(str(task.status), "")
        took = f" ({task.seconds:.1f}s)" if task.seconds is not None else ""
        message = f"[dim]: {task.message}[/]" if task.message and task.status == "failed" else ""
        console.print(f"[dim]{at:7.1f}s[/] [{colour}]{task.status:>8}[/] {task.name}{took}"
                      f"{message}")

    extravars = {**options.extravars(folder), "stack": name,
                 "deployment": str(settings.deployment_path(name))}
    result = run_playbook("rehearse", extravars=extravars, work_dir=folder / "runner",
                          on_task=on_task)
    report_json = folder / "report.json"
    from runbooks.record import RunRecord
    from runbooks.rehearsal import with_playbook

    if report_json.is_file():
        record = with_playbook(RunRecord.from_json(report_json.read_text()), result)
    else:
        record = compose_record(files, playbook=result, config=extravars)
    written = write_report(record, folder)
    colour = "green" if record.passed else "bold red"
    out.print(f"[{colour}]{record.verdict.upper()}[/]: {record.reason}")
    out.print(f"report: {written.html}")
    sys.exit(0 if record.passed else 1)


@rehearse.command("report")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--stack", default=None)
def report(folder: Path, stack: str | None) -> None:
    """Write the report of a rehearsal folder (charts from the stack's Prometheus)."""
    import json

    from runbooks.errors import RunbookError
    from runbooks.rehearsal import RehearsalFiles, compose_record
    from runbooks.report import write_report
    from runbooks.settings import RunbookSettings

    try:
        settings = RunbookSettings.load()
    except RunbookError as e:
        console.print(f"[bold red]error:[/] {e}")
        sys.exit(2)
    try:
        deployment = json.loads(settings.deployment_path(stack).read_text())
    except (OSError, ValueError):
        deployment = {}
    record = compose_record(RehearsalFiles(folder), prometheus_url=deployment.get("prometheus"),
                            config={"stack": stack or settings.stack},
                            versions=_versions())
    written = write_report(record, folder)
    out.print(f"{record.verdict}: {record.reason}")
    out.print(f"report: {written.html}")


def _versions() -> dict[str, str]:
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for package in ("chartguard", "locust", "psycopg", "ansible-runner", "pulumi"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    for label, argv in (("postgresql", ["/usr/lib/postgresql/15/bin/postgres", "--version"]),
                        ("haproxy", ["/usr/sbin/haproxy", "-v"]),
                        ("prometheus", ["/usr/bin/prometheus", "--version"])):
        try:
            text = subprocess.run(argv, capture_output=True, text=True, timeout=10,  # noqa: S603
                                  check=False).stdout or ""
        except OSError:
            continue
        found[label] = text.splitlines()[0].strip() if text else "?"
    return found
