"""The gate against a real Prometheus holding synthetic history (backfilled with promtool).

One Prometheus serves every scenario: consecutive 20-minute stretches of east's traffic,
a quiet west, and an idle third region that exports metrics but serves nothing:

    baseline | good (same as baseline) | regression (6x slower, all < 500 ms) | outage (5% 503)

Each test gates one stretch through the real CLI and checks the exit code and the checks.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitoring.cli import gate
from monitoring.gate import CheckStatus, Gate, GateRequest, TimeWindow
from monitoring.promql import PrometheusClient
from tests.monitoring.conftest import Phase, free_port, openmetrics_history

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "monitoring" / "slo.yaml"

STRETCH = 20 * 60
# aligned to a 2h TSDB block boundary minus margin; the history ends an hour ago
START = (int(time.time()) - 3 * 3600) // 60 * 60
BASELINE = (START, START + STRETCH)
GOOD = (START + STRETCH, START + 2 * STRETCH)
REGRESSION = (START + 2 * STRETCH, START + 3 * STRETCH)
OUTAGE = (START + 3 * STRETCH, START + 4 * STRETCH)
BEFORE = (START - 2 * STRETCH, START - STRETCH)


def span(window: tuple[int, int]) -> str:
    return f"{window[0]}..{window[1]}"


@pytest.fixture(scope="module")
def history_prometheus(module_servers, spec):
    east = [
        Phase(seconds=STRETCH, rps=20, latency=0.05),
        Phase(seconds=STRETCH, rps=20, latency=0.05),
        Phase(seconds=STRETCH, rps=20, latency=0.3),
        Phase(seconds=STRETCH, rps=20, latency=0.05, error_ratio=0.05),
    ]
    west = [Phase(seconds=4 * STRETCH, rps=2, latency=0.04)]
    # the load generator (talking to east) started with the "good" stretch
    text = openmetrics_history(START, {"east": east, "west": west}, idle_regions=("third",),
                               client=("east", GOOD[0] + 30))
    return module_servers.prometheus(spec=spec, openmetrics=text, name="history")


def run_gate(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(gate, ["--prometheus", url, *args])
    return result.exit_code, result.output


def checks_of(path) -> dict[str, dict]:
    return {c["check"]: c for c in json.loads(path.read_text())["checks"]}


def test_good_window_passes_and_writes_json_and_junit(history_prometheus, tmp_path):
    out, junit = tmp_path / "gate.json", tmp_path / "gate.xml"
    code, output = run_gate(history_prometheus.url, "--window", span(GOOD),
                            "--json", str(out), "--junit", str(junit))
    assert code == 0, output
    result = json.loads(out.read_text())
    assert result["outcome"] == "pass" and result["exit_code"] == 0
    checks = checks_of(out)
    assert checks["availability overall"]["status"] == "pass"
    assert checks["availability overall"]["value"] == 1.0
    assert "via ehr" in checks["availability overall"]["detail"]  # no router: EHR fallback
    assert checks["latency overall"]["status"] == "pass"
    assert checks["availability region east"]["status"] == "pass"
    assert checks["availability region west"]["status"] == "pass"
    # a region that served nothing is not judged (the overall SLI judges the service)
    assert checks["availability region third"]["status"] == "not_evaluated"
    assert checks["availability error budget remaining"]["value"] == 1.0
    assert checks["replication lag"]["status"] == "pass"
    # the load generator's own view agrees
    assert checks["availability client view"]["status"] == "pass"
    assert checks["latency client view"]["status"] == "pass"
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert int(suite.get("tests")) == len(checks)
    assert "chartguard gate: PASS" in output


def test_outage_fails_the_gate(history_prometheus, tmp_path):
    out, junit = tmp_path / "gate.json", tmp_path / "gate.xml"
    code, output = run_gate(history_prometheus.url, "--window", span(OUTAGE),
                            "--json", str(out), "--junit", str(junit))
    assert code == 1, output
    checks = checks_of(out)
    overall = checks["availability overall"]
    assert overall["status"] == "fail"
    assert 0.93 < overall["value"] < 0.96  # 5% of east's 20 rps, west clean: ~4.5% overall
    assert overall["threshold"] == 0.999
    assert "status=~\"5..\"" in overall["query"]
    assert checks["availability region east"]["status"] == "fail"
    assert checks["availability region west"]["status"] == "pass"
    # a 20-minute 4.5% outage spends more than the whole 30-day budget
    assert checks["availability error budget remaining"]["status"] == "fail"
    assert checks["availability client view"]["status"] == "fail"  # the users saw it too
    assert 0.94 < checks["availability client view"]["value"] < 0.96
    failures = ET.parse(junit).getroot().findall("testcase/failure")
    assert len(failures) == 4


def test_regression_within_thresholds_is_flagged_against_a_baseline(history_prometheus, tmp_path):
    out = tmp_path / "gate.json"
    code, output = run_gate(history_prometheus.url, "--window", span(REGRESSION),
                            "--baseline", span(BASELINE), "--json", str(out))
    assert code == 1, output
    checks = checks_of(out)
    assert checks["latency overall"]["status"] == "pass"  # every request under 500 ms
    mean = checks["latency regression (mean)"]
    assert mean["status"] == "fail"
    assert mean["value"] > 1.5  # ~6x the baseline's median
    assert "significant regression" in mean["detail"]


def test_a_short_run_compares_with_a_shorter_step(history_prometheus, tmp_path):
    """90 s hold too few 15 s samples (6) to compare; 10 s samples (9) are enough,
    and the regression still shows."""
    window = (REGRESSION[0], REGRESSION[0] + 90)
    baseline = (BASELINE[0], BASELINE[0] + 90)
    out = tmp_path / "gate.json"
    run_gate(history_prometheus.url, "--window", span(window), "--baseline", span(baseline),
             "--json", str(out))
    assert "too few samples" in checks_of(out)["latency regression (mean)"]["detail"]
    code, output = run_gate(history_prometheus.url, "--window", span(window), "--baseline",
                            span(baseline), "--step", "10", "--json", str(out))
    assert code == 1, output
    assert checks_of(out)["latency regression (mean)"]["status"] == "fail"
    code, output = run_gate(history_prometheus.url, "--window", span(window), "--step", "0.5")
    assert code == 2 and "step" in output


def test_same_behaviour_as_the_baseline_passes(history_prometheus, tmp_path):
    out = tmp_path / "gate.json"
    code, output = run_gate(history_prometheus.url, "--window", span(GOOD),
                            "--baseline", span(BASELINE), "--json", str(out))
    assert code == 0, output
    checks = checks_of(out)
    for name in ("latency regression (mean)", "latency regression (p99)"):
        assert checks[name]["status"] == "pass", checks[name]
        assert abs(checks[name]["value"]) < 0.2


def test_window_without_data_cannot_be_evaluated(history_prometheus, tmp_path):
    out = tmp_path / "gate.json"
    code, output = run_gate(history_prometheus.url, "--window", span(BEFORE), "--json", str(out))
    assert code == 2, output
    checks = checks_of(out)
    assert checks["availability overall"]["status"] == "error"
    assert "no data" in checks["availability overall"]["detail"]
    assert all(c["status"] != "pass" for c in checks.values())


def test_client_view_absent_is_not_evaluated_unless_required(history_prometheus, tmp_path):
    out = tmp_path / "gate.json"
    # before the load generator started: its view is simply absent
    code, output = run_gate(history_prometheus.url, "--window", span(BASELINE), "--json", str(out))
    assert code == 0, output
    assert checks_of(out)["availability client view"]["status"] == "not_evaluated"
    code, output = run_gate(history_prometheus.url, "--window", span(BASELINE), "--require-client",
                            "--json", str(out))
    assert code == 2, output
    assert checks_of(out)["availability client view"]["status"] == "error"


def test_result_files_join_the_verdict(history_prometheus, tmp_path):
    ledger = tmp_path / "verify.json"
    failover = tmp_path / "failover.json"
    ledger.write_text(json.dumps({"kind": "chartguard.load.verify", "ok": True, "entries": 500,
                                  "lost": 0, "corrupted": 0, "problems": []}))
    failover.write_text(json.dumps({"rto_seconds": 3.2, "rpo_writes": 0}))
    out = tmp_path / "gate.json"
    args = ["--window", span(GOOD), "--ledger-verify", str(ledger), "--failover", str(failover),
            "--json", str(out)]
    code, output = run_gate(history_prometheus.url, *args)
    assert code == 0, output
    assert checks_of(out)["failover RTO"]["value"] == 3.2
    ledger.write_text(json.dumps({"lost": 2, "corrupted": 0}))
    code, output = run_gate(history_prometheus.url, *args)
    assert code == 1, output
    assert checks_of(out)["ledger lost writes"]["status"] == "fail"


def test_library_api_returns_results_as_data(history_prometheus, spec):
    with PrometheusClient(history_prometheus.url) as client:
        result = Gate(client=client, spec=spec).evaluate(
            GateRequest(window=TimeWindow(*map(float, OUTAGE)), profile="standard"))
    failed = {c.name for c in result.by_status(CheckStatus.FAIL)}
    assert "availability overall" in failed
    assert result.exit_code == 1


def test_empty_prometheus_cannot_be_evaluated(servers, spec):
    empty = servers.prometheus(spec=spec, name="empty")
    code, output = run_gate(empty.url, "--window", "now-5m..now")
    assert code == 2, output


def test_prometheus_not_answering_cannot_be_evaluated(tmp_path):
    out = tmp_path / "gate.json"
    code, output = run_gate(f"http://127.0.0.1:{free_port()}", "--window", "now-5m..now",
                            "--json", str(out))
    assert code == 2, output
    checks = checks_of(out)
    assert all(c["status"] == "error" for c in checks.values())
    assert "did not answer" in checks["availability overall"]["detail"]


def test_prometheus_refusing_a_query_cannot_pass(history_prometheus, tmp_path):
    # a spec whose selector Prometheus rejects (bad regex): every SLI errs, never passes
    spec_text = SPEC.read_text().replace('status=~"5.."', 'status=~"5.("')
    bad_spec = tmp_path / "slo.yaml"
    bad_spec.write_text(spec_text)
    out = tmp_path / "gate.json"
    code, output = run_gate(history_prometheus.url, "--window", span(GOOD), "--spec",
                            str(bad_spec), "--json", str(out))
    assert code == 2, output
    overall = checks_of(out)["availability overall"]
    assert overall["status"] == "error" and "bad_data" in overall["detail"]
