"""``chartguard ehr``: serve, migrate and seed the EHR."""

from __future__ import annotations

import sys

import click

from ehr_core.errors import EhrError
from ehr_core.settings import Settings


def _settings(db: str | None, region: str | None = None) -> Settings:
    overrides: dict[str, str] = {}
    if db:
        overrides["db_url"] = db
    if region:
        overrides["region"] = region
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


def _fail(error: EhrError) -> None:
    click.echo(f"error: {error.detail}", err=True)
    sys.exit(1)


@click.group()
def ehr() -> None:
    """The EHR service: serve, migrate, seed, verify the audit log."""


@ehr.command()
@click.option("--db", "db_url", default=None, help="database URL (default: CHARTGUARD_DB_URL)")
def migrate(db_url: str | None) -> None:
    """Apply every schema migration (alembic upgrade head)."""
    from ehr_core.migrate import upgrade

    settings = _settings(db_url)
    try:
        upgrade(settings)
    except EhrError as e:
        _fail(e)
    click.echo("database is at the latest schema revision")
