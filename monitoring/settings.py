"""Settings of the monitoring tools (SLO generators and the gate), read in one place.

Environment variables carry the ``CHARTGUARD_`` prefix, e.g. ``CHARTGUARD_PROMETHEUS_URL``.
The status service, a separate deployable, has its own settings object.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import PositiveFloat
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MonitoringSettings"]


class MonitoringSettings(BaseSettings):
    """Where Prometheus, Alertmanager and the status webhook are, and which spec to use."""

    model_config = SettingsConfigDict(env_prefix="CHARTGUARD_", extra="ignore", frozen=True)

    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = "http://127.0.0.1:9093"
    status_webhook_url: str = "http://127.0.0.1:8090/api/v1/alerts/webhook"
    slo_spec: Path | None = None  # an slo.yaml; the packaged one when unset
    slo_profile: str = "standard"
    query_timeout: PositiveFloat = 30.0  # seconds per Prometheus request
