"""The load generator's one settings object, read from ``CHARTGUARD_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.envcheck import describe_settings_error
from loadtests.errors import SettingsError

__all__ = ["LoadSettings"]


class LoadSettings(BaseSettings):
    """Knobs of the load generator that are not part of a traffic profile.

    ``seed_password`` is shared with the EHR seeder (``CHARTGUARD_SEED_PASSWORD``, see
    docs/interfaces.md); the others are ``CHARTGUARD_LOAD_<FIELD>``.
    """

    model_config = SettingsConfigDict(
        env_prefix="CHARTGUARD_LOAD_", extra="ignore", frozen=True, populate_by_name=True
    )

    seed_password: str = Field(
        default="chartguard-seed-password",
        min_length=8,
        validation_alias="CHARTGUARD_SEED_PASSWORD",
    )
    # Per-request client timeout: a write that gets no answer in time is indeterminate.
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # A write whose answer was lost is retried with its Idempotency-Key: at most this many
    # attempts in all, started within this many seconds of the first (1 = no retries).
    write_attempts: int = Field(default=3, ge=1, le=10)
    write_retry_seconds: float = Field(default=4.0, ge=0, le=60)
    # The ledger fsyncs at least this often, and after this many entries.
    ledger_fsync_seconds: float = Field(default=0.5, gt=0, le=60)
    ledger_fsync_entries: int = Field(default=64, ge=1, le=100_000)
    # Live Prometheus metrics of the generator (loopback only; port 0 picks a free port).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Concurrent read-backs during verify.
    verify_concurrency: int = Field(default=16, ge=1, le=256)

    @classmethod
    def from_env(cls) -> LoadSettings:
        """The settings from the environment; :class:`SettingsError` names each bad
        variable in a sentence (never its value: one is a password)."""
        try:
            return cls()
        except ValidationError as e:
            raise SettingsError(describe_settings_error(e, prefix="CHARTGUARD_LOAD_")) from e
