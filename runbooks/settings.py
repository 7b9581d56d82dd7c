"""The runbooks' settings, read once from ``CHARTGUARD_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.local.settings import REPO_ROOT

__all__ = ["RunbookSettings"]


class RunbookSettings(BaseSettings):
    """Which stack the runbooks act on and how they reach the services around it."""

    model_config = SettingsConfigDict(env_prefix="CHARTGUARD_", extra="ignore")

    stack: str = "local"
    state_dir: Path = Field(default=REPO_ROOT / ".state", description="every stack's state")
    # The status service's SRE token (docs/interfaces.md); its placeholder works on loopback.
    status_token: SecretStr = SecretStr("changeme-local-status-token")
    slo_profile: str = "standard"
    # The write probe logs in as the seeded owner of practice-0000 (synthetic data only).
    probe_email: str = "owner@practice-0000.test"
    seed_password: SecretStr = SecretStr("chartguard-seed-password")
    reports_dir: Path = Field(default=REPO_ROOT / "test-artifacts" / "runbooks")

    def deployment_path(self, stack: str | None = None) -> Path:
        return self.state_dir / (stack or self.stack) / "deployment.json"
