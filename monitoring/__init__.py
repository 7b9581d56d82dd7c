"""chartguard monitoring: SLOs as code, Prometheus/Alertmanager config, the release gate.

The gate lives in :mod:`monitoring.gate` (imported on demand: it needs scipy); the status
service in :mod:`monitoring.status`.
"""

from monitoring.errors import (
    GateInputError,
    MonitoringError,
    PrometheusError,
    PrometheusUnavailable,
    QueryError,
    SpecError,
)
from monitoring.settings import MonitoringSettings
from monitoring.slo import Objective, Profile, SLOSpec, load_spec

__all__ = [
    "GateInputError",
    "MonitoringError",
    "MonitoringSettings",
    "Objective",
    "Profile",
    "PrometheusError",
    "PrometheusUnavailable",
    "QueryError",
    "SLOSpec",
    "SpecError",
    "load_spec",
]
