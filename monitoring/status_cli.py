"""``chartguard statuspage``: run the status service for on-call SREs."""

from __future__ import annotations

import click
from pydantic import ValidationError

from monitoring.status.errors import ConfigError


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
    except (ConfigError, ValidationError) as e:
        raise click.UsageError(str(e)) from e
    click.echo(f"status service on http://{settings.host}:{settings.port}/ "
               f"(db {settings.db_path})", err=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="warning", timeout_graceful_shutdown=3)
