"""The status service's one settings object (env vars ``CHARTGUARD_STATUS_*``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitoring.status.errors import ConfigError

PLACEHOLDER_TOKEN = "changeme-local-status-token"  # noqa: S105 - a known placeholder, refused remotely


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StatusSettings(BaseSettings):
    """Everything the status service reads from its environment, in one place.

    ``regions`` maps region name to the EHR base URL it probes; when empty, regions come
    from ``deployment_file`` (``.state/<stack>/deployment.json`` written by infra).
    """

    model_config = SettingsConfigDict(env_prefix="CHARTGUARD_STATUS_", extra="ignore")

    environment: Literal["local", "staging", "production"] = "local"
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    db_path: Path = Path(".state/status/status.db")
    token: SecretStr = SecretStr(PLACEHOLDER_TOKEN)

    stack: str = "local"
    state_dir: Path = Path(".state")
    regions: dict[str, str] = Field(default_factory=dict)

    probe_interval_seconds: float = Field(default=2.0, gt=0)
    probe_timeout_seconds: float = Field(default=1.5, gt=0)
    probe_fall: int = Field(default=2, ge=1, description="failed probes before a component flips")
    probe_rise: int = Field(default=2, ge=1, description="good probes before it recovers")
    replication_lag_threshold_seconds: float = Field(default=10.0, gt=0)

    prometheus_url: str | None = None
    slo_cache_seconds: float = Field(default=30.0, ge=0)
    slo_path: Path | None = Field(default=None, description="default: the packaged slo.yaml")

    webhook_attempts: int = Field(default=3, ge=1, le=10)
    webhook_timeout_seconds: float = Field(default=2.0, gt=0)
    webhook_backoff_seconds: float = Field(default=0.5, ge=0)
    webhook_allow_remote: bool = False
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    # SSE streams end after this long (clients reconnect), so shutdown is never held open.
    sse_max_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _refuse_placeholder_token(self) -> StatusSettings:
        token = self.token.get_secret_value()
        local = self.environment == "local" and is_loopback_host(self.host)
        if not local and (token == PLACEHOLDER_TOKEN or len(token) < 24):
            raise ConfigError(
                "CHARTGUARD_STATUS_TOKEN must be set to a secret of at least 24 characters "
                "when the status service is not local (environment or host is non-local)"
            )
        return self

    @property
    def deployment_file(self) -> Path:
        return self.state_dir / self.stack / "deployment.json"
