"""The chaos package's one settings object, read from ``CHARTGUARD_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from chartguard_common.scrape import scrape_dir

__all__ = ["ChaosSettings"]


class ChaosSettings(BaseSettings):
    """Where chaos finds Toxiproxy, the deployment and its state directory.

    Every field can be overridden by an environment variable (``CHARTGUARD_TOXIPROXY_URL``,
    ``CHARTGUARD_STACK``, ``CHARTGUARD_STATE_DIR``, ``CHARTGUARD_TOXIPROXY_TIMEOUT_S``) and
    again by CLI options.
    """

    model_config = SettingsConfigDict(env_prefix="CHARTGUARD_", extra="ignore")

    toxiproxy_url: str = "http://127.0.0.1:8474"
    stack: str = "local"
    # Same default as infra's settings: the checkout's .state, wherever the CLI runs from.
    state_dir: Path = Path(__file__).resolve().parents[1] / ".state"
    toxiproxy_timeout_s: float = 5.0

    @property
    def stack_dir(self) -> Path:
        """``.state/<stack>``: where the deployment file and chaos records live."""
        return self.state_dir / self.stack

    @property
    def deployment_path(self) -> Path:
        return self.stack_dir / "deployment.json"

    @property
    def scrape_dir(self) -> Path:
        """Where the stack's Prometheus discovers scrape targets (``file_sd``)."""
        return scrape_dir(self.stack_dir)

    @property
    def record_dir(self) -> Path:
        """Crash-safe records of applied faults, one per scenario (``<scenario>.json``)."""
        return self.stack_dir / "chaos" / "records"
