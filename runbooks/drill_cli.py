"""``chartguard drill backup-restore``: prove a backup restores, with the data in it."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console

__all__ = ["drill"]

console = Console(stderr=True)
out = Console()


@click.group()
def drill() -> None:
    """Recovery drills on the running local stack."""


@drill.command("backup-restore")
@click.option("--ledger", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="a load ledger: verify a sample of its writes in the restore")
@click.option("--sample", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option("--markers", type=click.IntRange(0, 1000), default=20, show_default=True,
              help="writes made through the router just before the backup, then looked up")
@click.option("--keep", is_flag=True, help="keep the scratch cluster's files for inspection")
@click.option("--stack", default=None, help="stack name (default: CHARTGUARD_STACK)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="write the result here")
def backup_restore(ledger: Path | None, sample: int, markers: int, keep: bool,
                   stack: str | None, json_path: Path | None) -> None:
    """Base backup of the primary, restored into a scratch cluster and verified."""
    from runbooks.errors import PrecheckFailed, RunbookError
    from runbooks.local import LocalCluster
    from runbooks.local.drill import backup_restore as run
    from runbooks.settings import RunbookSettings

    try:
        settings = RunbookSettings.load()
        cluster = LocalCluster.from_deployment(settings.deployment_path(stack))
        with console.status("backup, restore, verify ..."):
            result = run(cluster.db(cluster.primary),
                         work_dir=settings.state_dir / cluster.stack / "drills",
                         router_url=cluster.router_url, probe_email=settings.probe_email,
                         probe_password=settings.seed_password.get_secret_value(),
                         markers=markers, ledger=ledger, sample=sample, keep=keep)
    except PrecheckFailed as e:
        console.print(f"[bold red]error:[/] {e}")
        sys.exit(2)
    except RunbookError as e:
        console.print(f"[bold red]error:[/] {e}")
        sys.exit(1)
    verdict = "[green]pass[/]" if result.ok else "[bold red]fail[/]"
    out.print(f"backup-restore of {result.source}: {verdict}")
    out.print(f"backup {result.backup_bytes / 1e6:.1f} MB in {result.backup_s:.2f}s; "
              f"restore {result.restore_s:.2f}s")
    out.print(f"markers {result.markers_found}/{result.markers} found; ledger sample "
              f"{result.ledger_sampled}, lost {result.ledger_lost}, "
              f"corrupted {result.ledger_corrupted}")
    for problem in result.problems:
        out.print(f"problem: {problem}")
    if result.kept:
        out.print(f"kept: {result.kept}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"kind": "chartguard.drill.backup_restore",
                                         "ok": result.ok, **asdict(result)}, indent=2))
    sys.exit(0 if result.ok else 1)
