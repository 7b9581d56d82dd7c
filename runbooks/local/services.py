"""Adapters from the cutover's gate and notice hooks to the monitoring package.

:class:`PrometheusGate` evaluates the SLA gate (``monitoring.gate``) over a window and
passes only when every counted check passed: it fails closed, so a check that could not
be evaluated (no data, NaN, a query error) or a Prometheus that does not answer stops the
cutover, with the reason, before the next irreversible step.
:class:`StatusNotices` announces the move as a maintenance window on the status
service, which practices see on their banner.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx

from monitoring.errors import MonitoringError
from monitoring.gate import CheckStatus, Gate, GateRequest, TimeWindow
from monitoring.promql import PrometheusClient
from monitoring.slo import load_spec
from monitoring.status.client import StatusClient
from monitoring.status.errors import StatusError
from runbooks.errors import RunbookError

__all__ = ["PrometheusGate", "StatusNotices"]


class PrometheusGate:
    """An :class:`~runbooks.local.cutover.SloGate` backed by the release gate.

    Which of the gate's checks count depends on the step. Before anything changes
    (``error budget``) the budget checks and latency decide. After a step, the SLIs
    over the window since that step (availability and latency, overall and per region)
    decide; budget checks are left out there because on a young stack (minutes of
    history) the cutover's own seconds of refused writes are most of the "period".
    The gate's replication-lag check is always left out: the EHR's gauge is the time
    since the standby last replayed a transaction, which grows on an idle primary,
    and the cutover checks lag exactly (LSN bytes).
    """

    def __init__(self, prometheus_url: str, *, profile: str = "standard",
                 min_window_s: float = 10.0) -> None:
        self.prometheus_url = prometheus_url
        self.profile = profile
        self.min_window_s = min_window_s
        self.spec = load_spec(None)

    @staticmethod
    def counts(step: str, check: str) -> bool:
        """Whether ``check`` decides the gate after ``step``."""
        if check == "replication lag" or check.endswith("client view"):
            return False
        if step == "error budget":
            return "error budget" in check or check.startswith("latency")
        return "error budget" not in check

    def __call__(self, step: str, start: float, end: float) -> tuple[bool, str]:
        start = min(start, end - self.min_window_s)
        try:
            with PrometheusClient(self.prometheus_url, timeout=10.0) as client:
                result = Gate(client=client, spec=self.spec).evaluate(
                    GateRequest(window=TimeWindow(start, end), profile=self.profile))
        except MonitoringError as e:
            return False, f"gate not evaluated (fails closed): {e}"
        checks = [c for c in result.checks if self.counts(step, c.name)]
        failed = [c for c in checks if c.status is CheckStatus.FAIL]
        errors = [c for c in checks if c.status is CheckStatus.ERROR]
        if failed:
            worst = failed[0]
            value = "no data" if worst.value is None else f"{worst.value:.4g}"
            return False, (f"{worst.name}: {value}, needs {worst.comparator} "
                           f"{worst.threshold} over {end - start:.0f}s")
        if errors:
            return False, (f"{errors[0].name} not evaluated (fails closed): "
                           f"{errors[0].detail}")
        passed = sum(1 for c in checks if c.status is CheckStatus.PASS)
        if not passed:
            return False, "no SLO check evaluated (fails closed)"
        return True, f"{passed} SLO checks pass over {end - start:.0f}s"


class StatusNotices:
    """Maintenance windows on the status service (``monitoring.status``)."""

    def __init__(self, status_url: str, *, token: str, minutes: int = 30,
                 watch_url: str | None = None, watch_timeout_s: float = 30.0) -> None:
        self.status_url = status_url
        self.token = token
        self.minutes = minutes
        # Where practices look (the EHR's /api/v1/notice through the router): the time
        # until the maintenance shows there is the notice latency.
        self.watch_url = watch_url
        self.watch_timeout_s = watch_timeout_s
        self.latency_s: float | None = None

    def open(self, *, source: str, target: str) -> str:
        started = time.time()
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
        self.latency_s = self._watch(started)
        return str(window["id"])

    def _watch(self, started: float) -> float | None:
        """Seconds until practices' notice shows the maintenance (None: not within timeout)."""
        if self.watch_url is None:
            return None
        deadline = started + self.watch_timeout_s
        with httpx.Client(base_url=self.watch_url, timeout=2.0) as client:
            while time.time() < deadline:
                try:
                    body = client.get("/api/v1/notice").json()
                    if body.get("maintenance") or body.get("mode") == "maintenance":
                        return time.time() - started
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.1)
        return None

    def close(self, notice_id: str, *, ok: bool) -> None:
        try:
            with StatusClient(self.status_url, token=self.token) as client:
                client.complete_maintenance(int(notice_id))
        except StatusError as e:
            raise RunbookError(f"cannot complete maintenance {notice_id}: {e}") from e
