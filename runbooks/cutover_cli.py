"""``chartguard migrate|failover|rollback``: move the primary role on a running local stack.

Each step is printed live as it starts and ends; the outcome (with measured write
unavailability, edge RTO and lost writes) is saved as JSON under
``.state/<stack>/runbooks/`` (the last one is what ``rollback`` reverses). Exit status:
0 done, 1 rolled back or failed (the message names the failed gate), 2 bad input.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from runbooks.errors import RunbookError

__all__ = ["migrate", "failover", "rollback", "release"]

console = Console(stderr=True)
out = Console()
_COLOURS = {"ok": "green", "failed": "bold red", "skipped": "yellow", "planned": "cyan"}


def _step_printer(started: float) -> Any:
    def on_step(record: Any) -> None:
        at = record.started - started
        if record.ended is None:
            console.print(f"[dim]{at:7.2f}s[/] … {record.name}")
            return
        colour = _COLOURS.get(str(record.status), "")
        took = f" ({record.seconds:.2f}s)" if record.seconds else ""
        detail = f": {record.detail}" if record.detail else ""
        console.print(f"[dim]{at:7.2f}s[/] [{colour}]{record.status}[/] {record.name}{took}"
                      f"[dim]{detail}[/]")
    return on_step


def _runner(stack: str | None, *, probe: bool, gate: bool | str, notice: bool
            ) -> tuple[Any, Any]:
    """The cutover runner of ``stack``. ``gate``: True gates on Prometheus (failing closed),
    False skips it (``--no-gate``), a string skips it for that reason."""
    from runbooks.local import NO_GATE, Cutover, LocalCluster, SkippedGate, WriteProbe
    from runbooks.local.services import PrometheusGate, StatusNotices
    from runbooks.settings import RunbookSettings

    settings = RunbookSettings.load()
    cluster = LocalCluster.from_deployment(settings.deployment_path(stack))
    writes = None
    if probe and cluster.router_url:
        writes = WriteProbe(cluster.router_url, email=settings.probe_email,
                            password=settings.seed_password.get_secret_value(),
                            interval=settings.probe_interval_s)
    # Fails closed: without a Prometheus the cutover stops at its first gate; only an
    # explicit --no-gate moves without one (and the record says so).
    slo_gate: Any = None
    if isinstance(gate, str):
        slo_gate = SkippedGate(gate)
    elif not gate:
        slo_gate = NO_GATE
    elif cluster.prometheus_url:
        slo_gate = PrometheusGate(cluster.prometheus_url, profile=settings.slo_profile)
    notices = None
    if notice and cluster.status_url:
        notices = StatusNotices(cluster.status_url,
                                token=settings.status_token.get_secret_value(),
                                watch_url=cluster.router_url)
    runner = Cutover(cluster, gate=slo_gate, notices=notices, probe=writes,
                     on_step=_step_printer(time.time()))
    return runner, settings


def _save(result: Any, settings: Any, stack: str | None, json_path: Path | None) -> Path:
    folder = settings.state_dir / (stack or settings.stack) / "runbooks"
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result.to_dict(), indent=2, default=str)
    path = folder / f"{result.kind}-{int(result.started)}.json"
    path.write_text(text)
    if result.status == "succeeded":
        (folder / "last-cutover.json").write_text(text)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text)
    return path


def _report(result: Any, path: Path) -> None:
    def num(value: float | None, unit: str = "s") -> str:
        return "-" if value is None else f"{value:.2f}{unit}"

    colour = {"succeeded": "green", "planned": "cyan"}.get(str(result.status), "bold red")
    out.print(f"[{colour}]{result.kind} {result.source} -> {result.target}: {result.status}[/]")
    if result.reason:
        out.print(f"reason: {result.reason}")
    if result.failed_gate:
        out.print(f"failed gate: {result.failed_gate}")
    if result.gate_skipped:
        out.print(f"[yellow]the SLO gate was skipped ({result.gate_skipped}): nothing checked "
                  "the SLOs[/]")
    if result.notice_latency_s is not None:
        out.print(f"maintenance notice on the practice banner after "
                  f"{num(result.notice_latency_s)}")
    out.print(f"write unavailability {num(result.write_unavailable_s)}, edge RTO "
              f"{num(result.rto_s)}, acknowledged writes {result.acknowledged_writes}, "
              f"lost {result.lost_writes}")
    if result.kept_data_dir:
        out.print(f"old primary's data kept in {result.kept_data_dir}")
    out.print(f"record: {path}")


def _recorded(result: Any, settings: Any, stack: str | None) -> None:
    """After a cutover that succeeded: say that the stack now records the new roles.

    The runbook's "record roles" step wrote ``roles.json``; it is stamped here with
    what set the roles (migrate, failover or rollback), which ``chartguard status``
    shows, and which ``chartguard up`` applies over the stack config's roles.
    """
    from infra.errors import InfraError
    from infra.roles import read_roles, roles_path, write_roles

    path = roles_path(settings.state_dir / (stack or settings.stack))
    try:
        assignment = read_roles(path)
        if assignment is None:
            return
        write_roles(path, assignment.roles, stack=assignment.stack, set_by=str(result.kind))
    except (InfraError, OSError) as e:
        console.print(f"[bold red]warning:[/] the stack may not record the new roles: {e}")
        return
    out.print(f"the stack now records {assignment.primary} as primary ({path}): "
              "`chartguard up` keeps these roles")


def _run(action: Any) -> None:
    from runbooks.errors import PrecheckFailed

    try:
        action()
    except PrecheckFailed as e:
        console.print(f"[bold red]error:[/] {e}")
        sys.exit(2)
    except RunbookError as e:
        console.print(f"[bold red]error:[/] {e}")
        sys.exit(1)


_stack = click.option("--stack", default=None, help="stack name (default: CHARTGUARD_STACK)")
_probe = click.option("--probe/--no-probe", default=True, show_default=True,
                      help="write through the router during the cutover to measure RTO "
                           "and lost writes")
_json = click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="also write the outcome here")


@click.command()
@click.option("--from", "source", required=True, help="the region that is primary now")
@click.option("--to", "target", required=True, help="the standby region to move to")
@click.option("--dry-run", is_flag=True, help="print the plan and change nothing")
@click.option("--gate/--no-gate", default=True, show_default=True,
              help="gate on the SLOs (Prometheus) before and after; the gate fails closed "
                   "(no data, no answer or no Prometheus stops the move), --no-gate skips it "
                   "and the record says so")
@click.option("--notice/--no-notice", default=True, show_default=True,
              help="announce a maintenance window on the status service")
@_probe
@_stack
@_json
def migrate(source: str, target: str, dry_run: bool, gate: bool,
            notice: bool, probe: bool, stack: str | None, json_path: Path | None) -> None:
    """Move the primary role from one region to another, gated at every step."""

    def action() -> None:
        runner, settings = _runner(stack, probe=probe and not dry_run, gate=gate,
                                   notice=notice)
        if dry_run:
            result = runner.dry_run("migrate", source, target)
            for i, step in enumerate(result.steps, 1):
                out.print(f"{i:2d}. {step.name}")
            return
        result = runner.migrate(source, target)
        _report(result, _save(result, settings, stack, json_path))
        if result.status != "succeeded":
            sys.exit(1)
        _recorded(result, settings, stack)

    _run(action)


@click.command()
@click.option("--to", "target", required=True, help="the standby region to promote")
@click.option("--rebuild/--no-rebuild", default=True, show_default=True,
              help="rebuild the old primary as a standby afterwards (its data is kept aside)")
@click.option("--dry-run", is_flag=True, help="print the plan and change nothing")
@click.option("--ledger", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="a load ledger written before and during the loss: RPO = "
                                 "its acknowledged writes missing afterwards")
@_probe
@_stack
@_json
def failover(target: str, rebuild: bool, dry_run: bool, ledger: Path | None, probe: bool,
             stack: str | None, json_path: Path | None) -> None:
    """Unplanned loss of the primary: fence it, promote TARGET, route to it."""
    from runbooks.local import CutoverOptions

    def action() -> None:
        runner, settings = _runner(stack, probe=probe and not dry_run, notice=False,
                                   gate="a failover: the primary is lost, nothing to gate on")
        runner.options = CutoverOptions(rebuild=rebuild)
        if dry_run:
            result = runner.dry_run("failover", runner.cluster.primary, target)
            for i, step in enumerate(result.steps, 1):
                out.print(f"{i:2d}. {step.name}")
            return
        result = runner.failover(target)
        if ledger is not None and result.status == "succeeded" and runner.cluster.router_url:
            from loadtests import verify_ledger

            verified = verify_ledger(ledger, target=runner.cluster.router_url,
                                     password=settings.seed_password.get_secret_value())
            result.rpo_writes = verified.lost
            result.lost_writes = (result.lost_writes or 0) + verified.lost
            result.acknowledged_writes = (result.acknowledged_writes or 0) + verified.acknowledged
        _report(result, _save(result, settings, stack, json_path))
        if result.status != "succeeded":
            sys.exit(1)
        _recorded(result, settings, stack)

    _run(action)


@click.command()
@click.option("--gate/--no-gate", default=True, show_default=True)
@click.option("--notice/--no-notice", default=True, show_default=True)
@_probe
@_stack
@_json
def rollback(gate: bool, notice: bool, probe: bool, stack: str | None,
             json_path: Path | None) -> None:
    """Return the primary role to where it was before the last migration or failover."""

    def action() -> None:
        from runbooks.errors import PrecheckFailed
        from runbooks.settings import RunbookSettings

        settings = RunbookSettings.load()
        last = settings.state_dir / (stack or settings.stack) / "runbooks" / "last-cutover.json"
        try:
            previous = json.loads(last.read_text())
        except (OSError, ValueError):
            raise PrecheckFailed(f"no previous cutover recorded ({last})") from None
        if previous.get("kind") == "rollback":
            raise PrecheckFailed(
                f"the last cutover was already a rollback ({previous.get('source')} -> "
                f"{previous.get('target')}); nothing to roll back (use migrate to move again)")
        runner, _ = _runner(stack, probe=probe, gate=gate, notice=notice)
        home = previous["source"]
        if runner.cluster.primary == home:
            raise PrecheckFailed(f"{home} is already the primary; nothing to roll back")
        result = runner.migrate(runner.cluster.primary, home)
        result.kind = "rollback"
        _report(result, _save(result, settings, stack, json_path))
        if result.status != "succeeded":
            sys.exit(1)
        _recorded(result, settings, stack)

    _run(action)


@click.command()
@_stack
def release(stack: str | None) -> None:
    """Stop the servers the runbooks started (rebuilt standbys, reloaded router).

    Run it before ``chartguard down`` after a migration or failover: the Pulumi state
    only knows the processes it started itself.
    """
    from runbooks.local.owned import release as stop_owned
    from runbooks.settings import RunbookSettings

    def action() -> None:
        settings = RunbookSettings.load()
        stopped = stop_owned(settings.state_dir / (stack or settings.stack))
        for line in stopped:
            out.print(f"stopped {line}")
        if not stopped:
            out.print("nothing to stop")

    _run(action)
