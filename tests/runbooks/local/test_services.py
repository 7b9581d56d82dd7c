"""The cutover's Prometheus gate fails closed: only checks that passed let it pass."""

from __future__ import annotations

import pytest

from monitoring.errors import MonitoringError
from monitoring.gate import Check, CheckStatus, Gate, GateResult
from runbooks.local.services import PrometheusGate

pytestmark = pytest.mark.unit


def _result(*checks: Check) -> GateResult:
    return GateResult(window=None, baseline=None, profile="standard",  # type: ignore[arg-type]
                      prometheus_url="http://127.0.0.1:9", checks=list(checks), evaluated_at=0.0)


def _check(name: str, status: CheckStatus) -> Check:
    return Check(name=name, status=status, threshold=0.999, comparator=">=", detail="d")


@pytest.mark.parametrize(
    ("checks", "passes", "says"),
    [
        ([("availability overall", CheckStatus.PASS)], True, "1 SLO checks pass"),
        ([("availability overall", CheckStatus.PASS), ("latency overall", CheckStatus.ERROR)],
         False, "latency overall not evaluated (fails closed)"),
        ([("availability overall", CheckStatus.FAIL)], False, "availability overall"),
        ([], False, "no SLO check evaluated"),
        # Left out of the decision: they do not make it pass on their own either.
        ([("replication lag", CheckStatus.PASS)], False, "no SLO check evaluated"),
    ],
)
def test_only_passed_checks_pass(monkeypatch, checks, passes, says):
    result = _result(*(_check(n, s) for n, s in checks))
    monkeypatch.setattr(Gate, "evaluate", lambda self, request: result)
    passed, detail = PrometheusGate("http://127.0.0.1:9")("reads 10%", 100.0, 200.0)
    assert passed is passes
    assert says in detail


def test_prometheus_that_does_not_answer_fails(monkeypatch):
    def broken(self, request):
        raise MonitoringError("Prometheus at http://127.0.0.1:9 did not answer")

    monkeypatch.setattr(Gate, "evaluate", broken)
    passed, detail = PrometheusGate("http://127.0.0.1:9")("error budget", 100.0, 200.0)
    assert passed is False
    assert "fails closed" in detail and "did not answer" in detail
