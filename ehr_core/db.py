"""Database engine and sessions: SQLite (embedded) or PostgreSQL via psycopg 3, pooled.

SQLite transactions start with ``BEGIN IMMEDIATE``: every request of ours writes an audit
entry, and a deferred transaction that later upgrades to a write can fail at once with
``SQLITE_BUSY`` when another process wrote meanwhile; taking the write lock up front lets
``busy_timeout`` queue writers instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from ehr_core.settings import Settings


def make_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.db_url`` with the pool and per-dialect tuning."""
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        _tune_sqlite(engine)
        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=False,
        # A connection that errored is discarded by SQLAlchemy; recycle guards against
        # connections a failover left half-open.
        pool_recycle=300,
        connect_args={
            "connect_timeout": settings.db_connect_timeout_seconds,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "application_name": f"chartguard-ehr-{settings.region}",
        },
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see the module docstring).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Probes opt out with execution_options(sqlite_begin="DEFERRED").
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {'DEFERRED' if mode == 'DEFERRED' else 'IMMEDIATE'}")


def is_read_only_error(exc: BaseException) -> bool:
    """True for "read-only transaction" (PostgreSQL 25006) or a read-only SQLite file."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "25006":
        return True
    return "readonly database" in str(orig).lower()


class Database:
    """An engine plus its session factories; one per app (and per worker process)."""

    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine if engine is not None else make_engine(settings)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Same pool: a checkout switches the driver to autocommit (no I/O), the return
        # switches it back. SQLite reads take no write lock (see _tune_sqlite).
        read_options: dict[str, str] = (
            {"sqlite_begin": "DEFERRED"} if self.is_sqlite else {"isolation_level": "AUTOCOMMIT"}
        )
        self._read_engine = self.engine.execution_options(**read_options)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        return self.sessionmaker()

    def read_connection(self) -> Connection:
        """A pooled connection for a request that only reads, without the cost of a
        :class:`Session` (measured: 0.04 ms against 0.2 ms a request). On PostgreSQL it
        is in autocommit: every statement commits on its own, so the request pays no
        BEGIN and COMMIT round trips, and sees what it would in a transaction at
        PostgreSQL's default isolation (READ COMMITTED: a fresh snapshot per
        statement). Anything that must change rows together needs a :meth:`session`."""
        return self._read_engine.connect()

    @property
    def reads_autocommit(self) -> bool:
        """Whether :meth:`read_connection` is in autocommit (PostgreSQL)."""
        return not self.is_sqlite

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def pool_in_use(self) -> int:
        """Connections currently checked out of the pool."""
        checkedout = getattr(self.engine.pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0

    def dispose(self) -> None:
        self.engine.dispose()
