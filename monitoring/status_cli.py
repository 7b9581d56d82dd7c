"""``chartguard statuspage``: run the status service; announce maintenance and post
incident updates through its API (for SREs and runbooks)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

import click
from pydantic import ValidationError

from monitoring.status.errors import ConfigError, StatusError


@click.group("statuspage")
def statuspage() -> None:
    """The status service: component states, incidents, maintenance, feeds, SSE."""


@statuspage.command("serve")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8090).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite file (default .state/status/status.db).")
@click.option("--stack", default=None, help="Read regions from .state/<stack>/deployment.json.")
@click.option("--region", "regions", multiple=True, metavar="NAME=URL",
              help="Probe this EHR instead of the deployment file (repeatable).")
@click.option("--prometheus-url", default=None, help="Prometheus for the SLO panel.")
@click.option("--probe-interval", type=float, default=None, help="Seconds between probes.")
def serve(host: str | None, port: int | None, db_path: str | None, stack: str | None,
          regions: tuple[str, ...], prometheus_url: str | None,
          probe_interval: float | None) -> None:
    """Serve the status page and API until interrupted. The SRE token comes from
    CHARTGUARD_STATUS_TOKEN (never from the command line)."""
    import uvicorn

    from monitoring.status.app import create_app
    from monitoring.status.regions import parse_region_option
    from monitoring.status.settings import StatusSettings

    overrides: dict[str, object] = {
        k: v for k, v in {
            "host": host, "port": port, "db_path": db_path, "stack": stack,
            "prometheus_url": prometheus_url, "probe_interval_seconds": probe_interval,
        }.items() if v is not None
    }
    try:
        if regions:
            overrides["regions"] = dict(parse_region_option(r) for r in regions)
        settings = StatusSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        raise click.UsageError(settings_problems(e)) from e
    except ConfigError as e:
        raise click.UsageError(str(e)) from e
    click.echo(f"status service on http://{settings.host}:{settings.port}/ "
               f"(db {settings.db_path})", err=True)
    note = regions_note(settings)
    if note:
        click.echo(note, err=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="warning", timeout_graceful_shutdown=3)


# Settings `serve` takes as options, by the option's name.
_OPTIONS = {"host": "--host", "port": "--port", "db_path": "--db", "stack": "--stack",
            "prometheus_url": "--prometheus-url", "probe_interval_seconds": "--probe-interval",
            "regions": "--region"}


def settings_problems(error: ValidationError) -> str:
    """One sentence per bad setting, named as the operator set it (option or variable),
    instead of pydantic's multi-line dump."""
    problems = []
    for err in error.errors():
        field = str(err["loc"][0]) if err.get("loc") else ""
        env = f"CHARTGUARD_STATUS_{field.upper()}"
        name = f"{_OPTIONS[field]} / {env}" if field in _OPTIONS else env if field else "settings"
        problems.append(f"{name}: {str(err['msg']).removeprefix('Value error, ')}")
    return "bad setting: " + "; ".join(problems)


def regions_note(settings: Any) -> str | None:
    """What to tell the operator when there is nothing to probe (yet): without regions the
    page would show an empty, all-"operational" deployment and never say why."""
    if settings.regions or settings.deployment_file.exists():
        return None
    return (f"no regions to probe yet: {settings.deployment_file} does not exist (run "
            "`chartguard up`, or pass --region NAME=URL); the page fills in once it appears")


def _client(url: str) -> Any:
    import os

    from monitoring.status.client import StatusClient

    token = os.environ.get("CHARTGUARD_STATUS_TOKEN")
    if not token:
        raise click.UsageError("set CHARTGUARD_STATUS_TOKEN to the status service's SRE token")
    return StatusClient(url, token=token)


def _run(action: Any) -> None:
    """Run a client call; print its JSON result or exit 1 with the service's error."""
    try:
        result = action()
    except StatusError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    click.echo(json.dumps(result, indent=2, default=str))


_URL = click.option("--url", default="http://127.0.0.1:8090", show_default=True,
                    envvar="CHARTGUARD_STATUS_URL", help="The status service.")


@statuspage.group("maintenance")
def maintenance() -> None:
    """Announce and complete maintenance windows (e.g. a database migration)."""


@maintenance.command("start")
@_URL
@click.option("--message", required=True, help="What practices and SREs should know.")
@click.option("--component", "components", multiple=True, required=True,
              metavar="REGION/COMPONENT", help="Affected component, e.g. east/database.")
@click.option("--title", default="Scheduled maintenance", show_default=True)
@click.option("--minutes", type=click.IntRange(1, 24 * 60), default=30, show_default=True,
              help="Planned length, starting now.")
def maintenance_start(url: str, message: str, components: tuple[str, ...], title: str,
                      minutes: int) -> None:
    """Open a maintenance window now; prints it (with its id)."""
    with _client(url) as client:
        _run(lambda: client.start_maintenance(message=message, components=list(components),
                                              title=title,
                                              duration=timedelta(minutes=minutes)))


@maintenance.command("complete")
@_URL
@click.argument("window_id", type=int)
def maintenance_complete(url: str, window_id: int) -> None:
    """Close maintenance window WINDOW_ID."""
    with _client(url) as client:
        _run(lambda: client.complete_maintenance(window_id))


@statuspage.command("update")
@_URL
@click.argument("incident_id", type=int)
@click.option("--status", type=click.Choice(["investigating", "identified", "monitoring",
                                             "resolved"]), required=True)
@click.option("--message", required=True)
def update(url: str, incident_id: int, status: str, message: str) -> None:
    """Add a timeline update to incident INCIDENT_ID."""
    with _client(url) as client:
        _run(lambda: client.post_update(incident_id, status=status, message=message))
