"""Schema migrations (Alembic), the same revisions on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, pool

from ehr_core.errors import DatabaseError
from ehr_core.settings import Settings


def alembic_config(settings: Settings) -> Config:
    """An Alembic config pointing at the packaged migrations and ``settings.db_url``."""
    cfg = Config()
    cfg.set_main_option("script_location", "ehr_core:migrations")
    # ConfigParser interpolation would choke on a '%' in a password.
    cfg.set_main_option("sqlalchemy.url", settings.sqlalchemy_url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database at ``settings.db_url`` to ``revision`` (default: the latest)."""
    try:
        command.upgrade(alembic_config(settings), revision)
    except Exception as e:  # wrap driver/alembic errors without leaking the URL's password
        raise DatabaseError(f"migration failed: {type(e).__name__}: {e}") from e


def is_empty(settings: Settings) -> bool:
    """True when the database has no practices (or no schema yet)."""
    engine = create_engine(settings.sqlalchemy_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("practices"):
                return True
            return conn.exec_driver_sql("SELECT count(*) FROM practices").scalar_one() == 0
    finally:
        engine.dispose()


def is_read_only(settings: Settings) -> bool:
    """True when the database refuses writes (a hot standby or a read-only database)."""
    if settings.is_sqlite:
        return False
    engine = create_engine(settings.sqlalchemy_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'"
            ).one()
            return bool(row[0] or row[1])
    finally:
        engine.dispose()
