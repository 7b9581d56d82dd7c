"""The monitoring package's exceptions: one shallow tree under :class:`MonitoringError`.

Messages name what is wrong (the field, the query, the URL) and never carry PHI: nothing
here ever formats a request body or a label value taken from patient data.
"""

from __future__ import annotations

__all__ = [
    "MonitoringError",
    "SpecError",
    "PrometheusError",
    "PrometheusUnavailable",
    "QueryError",
    "GateInputError",
]


class MonitoringError(Exception):
    """Base of every error raised by ``monitoring``."""


class SpecError(MonitoringError):
    """``slo.yaml`` (or a profile in it) is invalid; the message names the field."""


class PrometheusError(MonitoringError):
    """Prometheus could not answer a query."""


class PrometheusUnavailable(PrometheusError):
    """Prometheus did not answer at all (connection refused, timeout, not HTTP)."""


class QueryError(PrometheusError):
    """Prometheus answered with an error (bad PromQL, timeout inside Prometheus, ...)."""


class GateInputError(MonitoringError):
    """An input of the gate is unusable: a bad window, an unreadable result file, ..."""
