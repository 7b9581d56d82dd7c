"""The local target's settings: where binaries live and where state goes.

Read once from ``CHARTGUARD_*`` environment variables (``LocalSettings()``); every
process manager also accepts explicit paths, so tests never depend on the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LocalSettings", "REPO_ROOT", "DEFAULT_PG_BIN_DIR", "DEFAULT_TOOLS_BIN_DIR"]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
DEFAULT_TOOLS_BIN_DIR = REPO_ROOT / ".tools" / "bin"


class LocalSettings(BaseSettings):
    """Settings of the ``local`` deployment target (env prefix ``CHARTGUARD_``)."""

    model_config = SettingsConfigDict(env_prefix="CHARTGUARD_", extra="ignore")

    state_dir: Path = Field(
        default=REPO_ROOT / ".state", description="root of every stack's state folder"
    )
    port_offset: int = Field(
        default=0,
        ge=0,
        le=20000,
        description="added to every port, so a private copy of the stack can run beside another",
    )
    pg_bin_dir: Path = DEFAULT_PG_BIN_DIR
    tools_bin_dir: Path = DEFAULT_TOOLS_BIN_DIR
    haproxy_bin: Path = Path("/usr/sbin/haproxy")
    prometheus_bin: Path = Path("/usr/bin/prometheus")
    alertmanager_bin: Path = Path("/usr/bin/prometheus-alertmanager")
    chartguard_bin: Path = Field(
        default=REPO_ROOT / ".venv" / "bin" / "chartguard",
        description="the chartguard entry point used to run the EHR",
    )
    slo_spec: Path = Field(
        default=REPO_ROOT / "monitoring" / "slo.yaml",
        description="the SLO spec installed into the stack (monitoring's CHARTGUARD_SLO_SPEC)",
    )
    pg_user: str = Field(
        default="postgres", description="system user PostgreSQL runs as when we are root"
    )
    # Local stack only: synthetic data on loopback. Overridable, never used by the aws target.
    db_password: str = "chartguard-local-db-password"
    replication_password: str = "chartguard-local-replication-password"
    superuser_password: str = "chartguard-local-superuser-password"

    def stack_dir(self, stack: str) -> Path:
        """``<state_dir>/<stack>``: logs, data dirs, configs and deployment.json of a stack."""
        return self.state_dir / stack
