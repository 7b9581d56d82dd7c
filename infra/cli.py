"""``chartguard up|down|preview|refresh|status``: the stack's lifecycle from the console.

Each command drives :class:`infra.automation.StackDriver` and draws one line per
resource in a live table while the engine works; errors are printed as one clear line
and exit with status 1 (2 for bad input).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from infra.errors import InfraError, PassphraseError, TopologyError

if TYPE_CHECKING:
    from infra.settings import InfraSettings

__all__ = ["up", "down", "preview", "refresh", "status"]

console = Console(stderr=True)
out = Console()

stack_option = click.option(
    "--stack", default=None, help="stack name (default: CHARTGUARD_STACK or 'local')"
)


class _ResourceTable:
    """A live table with one row per resource, updated from engine events."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: dict[str, tuple[str, str, str, str, float]] = {}

    def update(self, event: object) -> None:
        from infra.automation import ResourceEvent

        assert isinstance(event, ResourceEvent)
        self.rows[event.urn] = (event.name, event.type, event.op, event.phase, event.elapsed_s)

    def render(self) -> Table:
        table = Table(title=self.title, expand=False)
        for column in ("resource", "type", "op", "state", "at (s)"):
            table.add_column(column)
        style = {"started": "yellow", "done": "green", "failed": "bold red"}
        for name, type_, op, phase, elapsed in self.rows.values():
            table.add_row(name, type_, op, f"[{style.get(phase, '')}]{phase}", f"{elapsed:.1f}")
        return table


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (TopologyError, PassphraseError) as e:
        console.print(f"[bold red]error:[/] {escape(str(e))}")
        sys.exit(2)
    except InfraError as e:
        console.print(f"[bold red]error:[/] {escape(str(e))}")
        sys.exit(1)


def _roles_line(settings: InfraSettings, name: str) -> str | None:
    """The note on roles a runbook set (``roles.json``), or None when there are none."""
    from infra.roles import read_roles, roles_note, roles_path, stack_config_roles

    assignment = read_roles(roles_path(settings.stack_dir(name)), stack=name)
    if assignment is None:
        return None
    return roles_note(assignment, stack_config_roles(settings.project_dir, name))


def _run(stack: str | None, action: str) -> None:
    from infra.automation import OperationResult, StackDriver
    from infra.settings import InfraSettings

    settings = InfraSettings()
    name = stack or settings.stack
    if action in ("up", "preview"):
        with _errors():
            note = _roles_line(settings, name)
        if note:
            console.print(f"[cyan]{escape(note)}[/]")
    table = _ResourceTable(f"{action} {name}")
    with _errors(), Live(table.render(), console=console, transient=False) as live:

        def on_event(event: object) -> None:
            table.update(event)
            live.update(table.render())

        driver = StackDriver(settings=settings, stack=name, on_event=on_event)
        operations: dict[str, Callable[[], OperationResult]] = {
            "up": driver.up, "down": driver.down,
            "preview": driver.preview, "refresh": driver.refresh,
        }
        result = operations[action]()
    changes = ", ".join(f"{op} {n}" for op, n in sorted(result.changes.items())) or "nothing"
    console.print(f"[green]{action} {name}[/]: {changes} in {result.duration_s:.1f}s")
    if result.deployment_path is not None:
        console.print(f"deployment: {result.deployment_path}")
    if result.outputs.get("router_url"):
        out.print(f"router: {result.outputs['router_url']}")


@click.command()
@stack_option
def up(stack: str | None) -> None:
    """Create or update the stack (and write .state/<stack>/deployment.json)."""
    _run(stack, "up")


@click.command()
@stack_option
def down(stack: str | None) -> None:
    """Destroy every resource of the stack and remove its deployment file."""
    _run(stack, "down")


@click.command()
@stack_option
def preview(stack: str | None) -> None:
    """Show what `up` would change, changing nothing."""
    _run(stack, "preview")


@click.command()
@stack_option
def refresh(stack: str | None) -> None:
    """Compare the stack's state with reality (e.g. a process that died)."""
    _run(stack, "refresh")


@click.command()
@stack_option
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def status(stack: str | None, as_json: bool) -> None:
    """Each region's components: role, health, address and pid."""
    import json
    from dataclasses import asdict

    from infra.settings import InfraSettings
    from infra.status import stack_status

    settings = InfraSettings()
    name = stack or settings.stack
    with _errors():
        report = stack_status(settings.deployment_path(name), stack=name)
    try:
        note = _roles_line(settings, name)
    except InfraError as e:  # the table is still worth showing; up would refuse the file
        note = f"warning: {e}"
    if as_json:
        out.print_json(json.dumps([asdict(c) for c in report.components]))
    else:
        table = Table(title=f"stack {name}")
        for column in ("region", "component", "role", "health", "address", "pid", "detail"):
            table.add_column(column)
        colour = {"up": "green", "down": "bold red", "unknown": "yellow"}
        for c in report.components:
            pid = "-" if c.pid is None else f"{c.pid}{'' if c.pid_alive else ' (dead)'}"
            table.add_row(
                c.region, c.component, c.role, f"[{colour[c.health.value]}]{c.health.value}",
                c.address, pid, c.detail,
            )
        out.print(table)
    if note:
        console.print(escape(note))
    sys.exit(0 if report.healthy else 1)
