"""Adapters from the cutover's gate and notice hooks to the monitoring package.

:class:`PrometheusGate` evaluates the SLA gate (``monitoring.gate``) over a window and
passes when no check fails; a check that could not be evaluated (no data yet, e.g.
over a few seconds) is reported but does not block, unless ``strict``.
:class:`StatusNotices` announces the move as a maintenance window on the status
service, which practices see on their banner.
"""

from __future__ import annotations

from datetime import timedelta

from monitoring.errors import MonitoringError
from monitoring.gate import CheckStatus, Gate, GateRequest, TimeWindow
from monitoring.promql import PrometheusClient
from monitoring.slo import load_spec
from monitoring.status.client import StatusClient
from monitoring.status.errors import StatusError
from runbooks.errors import RunbookError

__all__ = ["PrometheusGate", "StatusNotices"]


class PrometheusGate:
    """An :class:`~runbooks.local.cutover.SloGate` backed by the release gate."""

    def __init__(self, prometheus_url: str, *, profile: str = "standard",
                 strict: bool = False, min_window_s: float = 60.0) -> None:
        self.prometheus_url = prometheus_url
        self.profile = profile
        self.strict = strict
        self.min_window_s = min_window_s
        self.spec = load_spec(None)

    def __call__(self, step: str, start: float, end: float) -> tuple[bool, str]:
        start = min(start, end - self.min_window_s)
        try:
            with PrometheusClient(self.prometheus_url, timeout=10.0) as client:
                result = Gate(client=client, spec=self.spec).evaluate(
                    GateRequest(window=TimeWindow(start, end), profile=self.profile))
        except MonitoringError as e:
            return (not self.strict), f"gate not evaluated: {e}"
        failed = result.by_status(CheckStatus.FAIL)
        errors = result.by_status(CheckStatus.ERROR)
        if failed:
            worst = failed[0]
            return False, f"{worst.name}: {worst.value} vs {worst.comparator} {worst.threshold}"
        if errors and self.strict:
            return False, f"{errors[0].name}: {errors[0].detail}"
        passed = len(result.by_status(CheckStatus.PASS))
        return True, f"{passed} checks pass, {len(errors)} not evaluated"


class StatusNotices:
    """Maintenance windows on the status service (``monitoring.status``)."""

    def __init__(self, status_url: str, *, token: str, minutes: int = 30) -> None:
        self.status_url = status_url
        self.token = token
        self.minutes = minutes

    def open(self, *, source: str, target: str) -> str:
        message = (f"We are moving the EHR from {source} to {target}. Charts and schedules "
                   "stay readable; saving may pause for a few seconds.")
        try:
            with StatusClient(self.status_url, token=self.token) as client:
                window = client.start_maintenance(
                    title=f"Planned move {source} to {target}", message=message,
                    components=[f"{source}/database", f"{target}/database"],
                    duration=timedelta(minutes=self.minutes))
        except StatusError as e:
            raise RunbookError(f"cannot schedule the maintenance notice: {e}") from e
        return str(window["id"])

    def close(self, notice_id: str, *, ok: bool) -> None:
        try:
            with StatusClient(self.status_url, token=self.token) as client:
                client.complete_maintenance(int(notice_id))
        except StatusError as e:
            raise RunbookError(f"cannot complete maintenance {notice_id}: {e}") from e
