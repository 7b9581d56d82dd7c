"""The single ``chartguard`` entry point.

Each package owns its sub-commands in its own ``cli.py``; this module only maps
command names to them and imports a package when its command is used, so
``chartguard ehr serve`` never pays for importing Locust or Pulumi.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# command name -> "module:attribute" of a click command or group.
COMMANDS: dict[str, str] = {
    "ehr": "ehr_core.cli:ehr",
    "chaos": "chaos.cli:chaos",
    "statuspage": "monitoring.status_cli:statuspage",
    "gate": "monitoring.cli:gate",
    "slo": "monitoring.cli:slo",
    "load": "loadtests.cli:load",
    "snapshot": "runbooks.snapshot_cli:snapshot",
    "migrate": "runbooks.cutover_cli:migrate",
    "failover": "runbooks.cutover_cli:failover",
    "rollback": "runbooks.cutover_cli:rollback",
    "release": "runbooks.cutover_cli:release",
    "drill": "runbooks.drill_cli:drill",
    "rehearse": "runbooks.rehearse_cli:rehearse",
    "up": "infra.cli:up",
    "down": "infra.cli:down",
    "preview": "infra.cli:preview",
    "refresh": "infra.cli:refresh",
    "status": "infra.cli:status",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chartguard")
def main() -> None:
    """chartguard: rehearse, break, watch and gate a multi-region EHR."""


if __name__ == "__main__":
    main()
