"""The EHR service's one settings object, read from ``CHARTGUARD_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_URL = "sqlite:///./chartguard.db"
DEFAULT_SEED_PASSWORD = "chartguard-seed-password"


class Settings(BaseSettings):
    """Everything one EHR deployable needs to know, with safe local defaults.

    Every field can be set by an environment variable named ``CHARTGUARD_<FIELD>``
    (e.g. ``CHARTGUARD_DB_URL``, ``CHARTGUARD_REGION``).
    """

    model_config = SettingsConfigDict(env_prefix="CHARTGUARD_", extra="ignore", frozen=True)

    region: str = Field(default="local", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    db_url: str = DEFAULT_DB_URL
    # Connection pool per worker. It is also how many threads run request work in a worker
    # (app.py), so a request never waits for a connection nor opens one: a pool smaller
    # than the threads opened and closed a connection per request under load (measured:
    # a new PostgreSQL backend every few ms). 2 workers x 20 fit the stack's 100.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_connect_timeout_seconds: int = Field(default=3, ge=1, le=60)
    # Statement timeout for request queries (PostgreSQL), so a stuck database fails fast.
    db_statement_timeout_ms: int = Field(default=15_000, ge=100)
    # /readyz answers within this budget even when the database hangs.
    ready_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # How long the primary/standby role is cached before asking the database again.
    role_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)
    # A write refused as read-only during an announced switchover waits for the promotion
    # at most this long, whatever the announcement says (0: never hold). See switchover/.
    write_hold_max_seconds: float = Field(default=10.0, ge=0, le=60)
    token_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    # Password checks and hashes (argon2) per worker: at most this many at once, at a
    # lower CPU priority, this many more waiting at most this long; beyond, 429 (see
    # ehr_core/passwords.py).
    password_concurrency: int = Field(default=1, ge=1, le=64)
    password_queue: int = Field(default=32, ge=0, le=10_000)
    password_wait_seconds: float = Field(default=3.0, gt=0, le=60)
    # How long a worker may keep a sign-in session in memory for read routes (0: never;
    # PostgreSQL only). Each use is still checked by the database, see session_cache.py.
    session_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    seed_password: str = Field(default=DEFAULT_SEED_PASSWORD, min_length=8)
    status_url: str | None = None
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    page_size_max: int = Field(default=200, ge=1, le=10_000)
    # Audit entries for reads served while read-only cannot enter the database's chain;
    # they are appended to this JSON-lines spool instead (ids only, no PHI).
    audit_spool_path: str = "./chartguard-audit-spool.jsonl"
    # Logins while read-only get a read-only session, kept in this SQLite file (default:
    # next to the audit spool, in the EHR's working folder) and valid this long.
    read_only_sessions_path: str | None = None
    read_only_token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    # Recent encounters/labs returned by the chart view.
    chart_recent_limit: int = Field(default=20, ge=1, le=500)
    # FHIR Bulk Data $export files (a whole practice each: keep this folder private).
    export_dir: str = "./exports"
    # A keyed write's stored answer is replayed for this long (Idempotency-Key), then purged.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    log_level: str = "INFO"
    # One line per request (method, route template, status, ms); off by default because
    # it costs a little on every request.
    access_log: bool = False

    @field_validator("db_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("db_url must be a sqlite:// or postgresql:// URL")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def read_only_sessions_file(self) -> Path:
        """Where read-only sessions live: the setting, else beside the audit spool."""
        if self.read_only_sessions_path:
            return Path(self.read_only_sessions_path)
        return Path(self.audit_spool_path).with_name("chartguard-read-only-sessions.sqlite3")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the psycopg 3 driver selected for PostgreSQL."""
        url = self.db_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
