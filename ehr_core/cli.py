"""``chartguard ehr``: serve, migrate and seed the EHR, verify its audit log, purge old
idempotency keys."""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import socket
import sys
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ehr_core.errors import EhrError
from ehr_core.settings import Settings

DEMO_PATIENTS = 40
# Settings the command line can set, by the name a user knows them under.
_SETTING_NAMES = {"db_url": "--db / CHARTGUARD_DB_URL", "region": "--region / CHARTGUARD_REGION"}


def _settings(db: str | None = None, region: str | None = None) -> Settings:
    overrides: dict[str, str] = {}
    if db:
        overrides["db_url"] = db
    if region:
        overrides["region"] = region
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        # One sentence per bad setting, named as the user set it; never pydantic's dump
        # (it echoes the input, which may carry a password in a database URL).
        problems = "; ".join(
            f"{_SETTING_NAMES.get(str(err['loc'][0]), 'CHARTGUARD_' + str(err['loc'][0]).upper())}"
            f": {str(err['msg']).removeprefix('Value error, ')}"
            if err.get("loc")
            else str(err["msg"])
            for err in e.errors()
        )
        raise click.UsageError(f"bad setting: {problems}") from e


def _fail(error: EhrError) -> NoReturn:
    click.echo(f"error: {error.detail}", err=True)
    sys.exit(1)


db_option = click.option(
    "--db", "db_url", default=None, help="database URL (default: CHARTGUARD_DB_URL or SQLite)"
)


@click.group()
def ehr() -> None:
    """The EHR service: serve, migrate, seed, verify the audit log."""


@ehr.command()
@db_option
def migrate(db_url: str | None) -> None:
    """Apply every schema migration (alembic upgrade head)."""
    from ehr_core.migrate import upgrade

    try:
        upgrade(_settings(db_url))
    except EhrError as e:
        _fail(e)
    click.echo("database is at the latest schema revision")


@ehr.command()
@click.option("--practices", type=click.IntRange(1, 100_000), default=1, show_default=True)
@click.option("--patients", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@click.option("--seed", "seed_value", type=int, default=1, show_default=True)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="first day of the seeded schedule (default: today, UTC)",
)
@db_option
def seed(
    practices: int, patients: int, seed_value: int, start: dt.datetime | None, db_url: str | None
) -> None:
    """Add deterministic synthetic practices (migrates first)."""
    from rich.progress import Progress

    from ehr_core.db import make_engine
    from ehr_core.migrate import upgrade
    from ehr_core.seed import seed as run_seed

    settings = _settings(db_url)
    try:
        upgrade(settings)
        engine = make_engine(settings)
        try:
            with Progress(transient=True) as bar:
                task = bar.add_task("seeding practices", total=practices)
                result = run_seed(
                    engine,
                    practices=practices,
                    patients=patients,
                    seed=seed_value,
                    password=settings.seed_password,
                    start=start.date() if start else None,
                    progress=lambda done, _total: bar.update(task, completed=done),
                )
        finally:
            engine.dispose()
    except EhrError as e:
        _fail(e)
    click.echo(
        f"seeded {result.practices} practices, {result.users} users, {result.patients} patients, "
        f"{result.appointments} appointments, {result.labs} labs from {result.start} "
        f"in {result.seconds:.1f}s"
    )
    if result.kept:
        click.echo(f"kept the {result.kept} practice(s) that already existed as they were")
    click.echo("log in as owner@practice-0000.test with CHARTGUARD_SEED_PASSWORD")


@ehr.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--region", default=None, help="region name (default: CHARTGUARD_REGION)")
@db_option
def serve(host: str, port: int, workers: int, region: str | None, db_url: str | None) -> None:
    """Serve the EHR with gunicorn + uvicorn workers (migrates first; seeds a demo practice
    into an empty database)."""
    from ehr_core.db import make_engine
    from ehr_core.migrate import is_empty, is_read_only, upgrade
    from ehr_core.seed import seed as run_seed
    from ehr_core.server import Server, prepare_multiproc_dir

    settings = _settings(db_url, region)
    busy = _port_taken(host, port)
    if busy:
        # Before migrating or seeding anything: gunicorn would find out only after both,
        # and after five retries.
        raise click.UsageError(f"cannot listen on {host}:{port}: {busy}")
    try:
        upgrade(settings)
        # A standby cannot take the demo seed; it replicates whatever its primary holds.
        if is_empty(settings) and not is_read_only(settings):
            engine = make_engine(settings)
            try:
                run_seed(
                    engine, practices=1, patients=DEMO_PATIENTS, password=settings.seed_password
                )
            finally:
                engine.dispose()
            custom = "CHARTGUARD_SEED_PASSWORD" in os.environ
            password = "from CHARTGUARD_SEED_PASSWORD" if custom else repr(settings.seed_password)
            click.echo(
                "the database was empty: seeded a demo practice with synthetic patients.\n"
                f"  log in as owner@practice-0000.test with the password {password}"
            )
    except EhrError as e:
        _fail(e)
    # Workers build their app from the environment: hand them the resolved settings.
    os.environ["CHARTGUARD_DB_URL"] = settings.db_url
    os.environ["CHARTGUARD_REGION"] = settings.region
    metrics_dir, private = prepare_multiproc_dir()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    click.echo(f"serving region {settings.region} on http://{host}:{port} with {workers} workers")
    click.echo(f"metrics files in {metrics_dir}")
    Server(
        host=host, port=port, workers=workers, cleanup_dir=metrics_dir if private else None
    ).run()


def _require_existing(settings: Settings) -> None:
    """Refuse a SQLite file that does not exist rather than create an empty one."""
    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
        if not path.exists():
            _fail(EhrError(f"no database at {path}: nothing to check (pass --db URL)"))


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (as gunicorn binds it), or None if it can."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return "the port is in use (another `chartguard ehr serve`?); pick another --port"
            return f"{e.strerror or e} (check --host)"
    return None


@ehr.command("audit-verify")
@click.option("--practice", "slug", default=None, help="only this practice (slug)")
@db_option
def audit_verify(slug: str | None, db_url: str | None) -> None:
    """Recompute every practice's audit hash chain; exit 1 naming the first broken entry."""
    from sqlalchemy import select

    from ehr_core import audit
    from ehr_core.db import Database
    from ehr_core.models import Practice

    settings = _settings(db_url)
    _require_existing(settings)
    db = Database(settings)
    broken = 0
    try:
        with db.session() as session:
            query = select(Practice.id, Practice.slug).order_by(Practice.id)
            if slug:
                query = query.where(Practice.slug == slug)
            practices = session.execute(query).all()
            if not practices:
                _fail(EhrError(f"no practice {slug!r}" if slug else "no practices"))
            for practice_id, practice_slug in practices:
                result = audit.verify(session, practice_id)
                if result.ok:
                    click.echo(f"{practice_slug}: ok ({result.entries_checked} entries)")
                    continue
                broken += 1
                brk = result.first_break
                assert brk is not None
                click.echo(
                    f"{practice_slug}: BROKEN at entry id={brk.entry_id} seq={brk.seq}: "
                    f"{brk.reason}",
                    err=True,
                )
    except SQLAlchemyError as e:
        # The driver's first line says what is wrong ("no such table: practices",
        # "connection refused"); statements and parameters stay out.
        reason = str(getattr(e, "orig", None) or e).splitlines()[0]
        schema = "no such table" in reason or "does not exist" in reason
        hint = (
            "is this a migrated chartguard database? (`chartguard ehr migrate --db ...`)"
            if schema
            else "is the database running and the URL right?"
        )
        _fail(EhrError(f"cannot read the audit log ({reason}): {hint}"))
    finally:
        db.dispose()
    sys.exit(1 if broken else 0)


@ehr.command("audit-import-spool")
@click.option(
    "--spool",
    "spool_path",
    default=None,
    help="spool file (default: CHARTGUARD_AUDIT_SPOOL_PATH)",
)
@db_option
def audit_import_spool(spool_path: str | None, db_url: str | None) -> None:
    """Chain the reads a region audited to its spool while it was read-only.

    Run against the primary once the region is writable again; the spool file is renamed
    to ``<spool>.imported-<timestamp>`` after the import commits.
    """
    from ehr_core import audit
    from ehr_core.db import Database

    settings = _settings(db_url)
    path = Path(spool_path or settings.audit_spool_path)
    if not path.exists():
        click.echo(f"no spool at {path}: nothing to import")
        return
    db = Database(settings)
    try:
        with db.transaction() as session:
            count = audit.import_spool(session, str(path))
    except ValueError as e:
        _fail(EhrError(str(e)))
    finally:
        db.dispose()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path.rename(path.with_name(f"{path.name}.imported-{stamp}"))
    click.echo(f"imported {count} spooled audit entries from {path}")


@ehr.command("idempotency-purge")
@db_option
def idempotency_purge(db_url: str | None) -> None:
    """Delete stored Idempotency-Key answers older than CHARTGUARD_IDEMPOTENCY_TTL_SECONDS.

    Keyed writes also purge a bounded batch now and then; this empties the backlog at once
    (in batches of 1,000, one transaction each, so writes are never blocked for long).
    """
    from ehr_core.db import Database
    from ehr_core.idempotency import purge_expired
    from ehr_core.models import utcnow

    settings = _settings(db_url)
    _require_existing(settings)
    before = utcnow() - dt.timedelta(seconds=settings.idempotency_ttl_seconds)
    db = Database(settings)
    total = 0
    try:
        while True:
            with db.transaction() as session:
                deleted = purge_expired(session, before=before, limit=1000)
            total += deleted
            if deleted < 1000:
                break
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).splitlines()[0]
        _fail(EhrError(f"cannot purge idempotency keys ({reason}); is the database migrated?"))
    finally:
        db.dispose()
    click.echo(f"purged {total} expired idempotency keys")
