"""The runbooks' settings, read once from ``CHARTGUARD_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.envcheck import describe_settings_error
from infra.local.settings import REPO_ROOT
from runbooks.errors import BadSetting

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
    #: Seconds between the write probe's writes during a cutover (its RTO resolution).
    #: Gentle by default: the probe writes through the same router as the practices, and
    #: a measurement must not be a load of its own on a Monday morning.
    probe_interval_s: float = Field(default=0.25, gt=0.01, le=10)
    seed_password: SecretStr = SecretStr("chartguard-seed-password")
    reports_dir: Path = Field(default=REPO_ROOT / "test-artifacts" / "runbooks")

    @classmethod
    def load(cls) -> RunbookSettings:
        """The settings from ``CHARTGUARD_*``; :class:`BadSetting` names a bad variable."""
        try:
            return cls()
        except ValidationError as e:
            raise BadSetting(describe_settings_error(e)) from e

    def deployment_path(self, stack: str | None = None) -> Path:
        return self.state_dir / (stack or self.stack) / "deployment.json"
