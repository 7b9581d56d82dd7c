"""Gate building blocks without servers: windows, outcome rules, the Mann-Whitney judge,
result files and the JUnit/JSON outputs."""

from __future__ import annotations

import json
import math
import random
import xml.etree.ElementTree as ET

import pytest

from monitoring.duration import format_duration
from monitoring.errors import GateInputError
from monitoring.gate import Check, CheckStatus, GateResult, Outcome, TimeWindow, compare_samples
from monitoring.gate.inputs import failover_checks, ledger_checks
from monitoring.gate.outputs import format_value, to_json, to_junit

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("now-10m..now", NOW - 600, NOW),
        ("1799990000..1799999000", 1_799_990_000, 1_799_999_000),
        # ISO 8601 with Z, with an offset, and without a zone (UTC)
        ("2027-01-15T08:00:00Z..2027-01-15T09:10:00+01:00", 1_800_000_000, 1_800_000_600),
        ("2027-01-15T08:00:00..2027-01-15T08:10:00", 1_800_000_000, 1_800_000_600),
    ],
)
def test_windows_parse(text, start, end):
    window = TimeWindow.parse(text, now=NOW if text.startswith("now") else 2_000_000_000)
    assert (window.start, window.end) == (start, end)
    assert window.range == format_duration(end - start)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("now-10m", "expected START..END"),
        ("now..now-10m", "at least 1s after START"),
        ("now-10m..now+5m", "bad time"),
        ("now-1h..now+1h", "bad time"),
        (f"{NOW - 60:.0f}..{NOW + 3600:.0f}", "ends in the future"),
        ("yesterday..now", "use ISO 8601"),
        ("now-5q..now", "not a duration"),
    ],
)
def test_bad_windows_name_the_option(text, message):
    with pytest.raises(GateInputError, match="--window") as err:
        TimeWindow.parse(text, now=NOW, what="--window")
    assert message in str(err.value)


def _result(*statuses: CheckStatus) -> GateResult:
    return GateResult(window=TimeWindow(NOW - 60, NOW), baseline=None, profile="standard",
                      prometheus_url="http://127.0.0.1:9090",
                      checks=[Check(name=f"c{i}", status=s) for i, s in enumerate(statuses)])


@pytest.mark.parametrize(
    ("statuses", "outcome"),
    [
        ((CheckStatus.PASS, CheckStatus.NOT_EVALUATED), Outcome.PASS),
        ((CheckStatus.PASS, CheckStatus.ERROR), Outcome.ERROR),
        ((CheckStatus.FAIL, CheckStatus.ERROR), Outcome.FAIL),  # a known failure is a failure
        ((CheckStatus.NOT_EVALUATED,), Outcome.ERROR),  # nothing passed: never a pass
        ((), Outcome.ERROR),
    ],
)
def test_outcome_and_exit_codes(statuses, outcome):
    result = _result(*statuses)
    assert result.outcome is outcome
    assert result.exit_code == {Outcome.PASS: 0, Outcome.FAIL: 1, Outcome.ERROR: 2}[outcome]


@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_missing_or_nan_value_is_an_error_not_a_pass(value):
    check = Check.compare(name="x", value=value, threshold=0.999, comparator=">=")
    assert check.status is CheckStatus.ERROR
    assert "could not evaluate" in check.detail
    assert Check.compare(name="x", value=1.0, threshold=0.999, comparator=">=").status \
        is CheckStatus.PASS


def _policy(spec):
    return spec.gate.comparison


def _compare_normal(spec, *, seed, baseline, window, sd, n):
    """Compare ``n`` normal samples around ``window`` with ``n`` around ``baseline``."""
    rng = random.Random(seed)
    before = [rng.gauss(baseline, sd) for _ in range(n)]
    after = [rng.gauss(window, sd) for _ in range(n)]
    return compare_samples(name="r", window=after, baseline=before, policy=_policy(spec))


def test_mann_whitney_flags_a_significant_large_regression(spec):
    check, stats = _compare_normal(spec, seed=1, baseline=0.15, window=0.30, sd=0.01, n=40)
    assert check.status is CheckStatus.FAIL
    assert stats is not None and stats.p_value < 1e-6 and stats.effect > 0.5


def test_a_large_relative_shift_among_fast_answers_is_no_regression(spec):
    """21 ms -> 29 ms: 40% worse and significant, but 8 ms is below min_delta (100 ms)."""
    check, stats = _compare_normal(spec, seed=4, baseline=0.021, window=0.029, sd=0.002, n=20)
    assert stats is not None and stats.p_value < 0.05 and stats.effect > 0.2
    assert check.status is CheckStatus.PASS
    assert "a shift under 100.0 ms is not a regression" in check.detail


def test_significant_but_small_shift_passes(spec):
    # +4%: below min_effect 20%
    check, stats = _compare_normal(spec, seed=2, baseline=0.050, window=0.052, sd=0.001, n=200)
    assert stats is not None and stats.p_value < 0.05
    assert check.status is CheckStatus.PASS


def test_improvement_and_noise_pass(spec):
    rng = random.Random(3)
    baseline = [rng.gauss(0.08, 0.01) for _ in range(30)]
    faster = [rng.gauss(0.05, 0.01) for _ in range(30)]
    assert compare_samples(name="r", window=faster, baseline=baseline,
                           policy=_policy(spec))[0].status is CheckStatus.PASS
    same = [rng.gauss(0.08, 0.01) for _ in range(30)]
    assert compare_samples(name="r", window=same, baseline=baseline,
                           policy=_policy(spec))[0].status is CheckStatus.PASS


def test_too_few_samples_after_dropping_nans_cannot_be_compared(spec):
    window = [0.1, math.nan, 0.2] + [math.nan] * 20
    check, stats = compare_samples(name="r", window=window, baseline=[0.1] * 30,
                                   policy=_policy(spec))
    assert check.status is CheckStatus.ERROR and stats is None
    assert "too few samples" in check.detail


def test_identical_samples_are_no_regression(spec):
    check, _ = compare_samples(name="r", window=[0.1] * 10, baseline=[0.1] * 10,
                               policy=_policy(spec))
    assert check.status is CheckStatus.PASS


def test_ledger_verify_result(spec, tmp_path):
    path = tmp_path / "verify.json"
    path.write_text(json.dumps({"kind": "chartguard.load.verify", "ok": True, "entries": 10,
                                "lost": 0, "corrupted": 0}))
    assert [c.status for c in ledger_checks(path, spec.gate)] == [CheckStatus.PASS] * 2
    path.write_text(json.dumps({"lost": 3, "corrupted": 0}))
    lost = ledger_checks(path, spec.gate)[0]
    assert lost.status is CheckStatus.FAIL and lost.value == 3
    path.write_text(json.dumps({"ok": False, "entries": 5, "lost": 0, "corrupted": 0,
                                "problems": ["3 writes unreadable"]}))
    assert ledger_checks(path, spec.gate)[-1].status is CheckStatus.FAIL
    path.write_text(json.dumps({"entries": 0, "lost": 0, "corrupted": 0}))
    assert ledger_checks(path, spec.gate)[-1].status is CheckStatus.ERROR


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "is not JSON"), ("[1]", "expected a JSON object"),
     ('{"corrupted": 0}', "missing field 'lost'"), ('{"lost": "none", "corrupted": 0}',
                                                    "is not a number")],
)
def test_unusable_ledger_result_is_an_error(spec, tmp_path, content, message):
    path = tmp_path / "verify.json"
    path.write_text(content)
    checks = ledger_checks(path, spec.gate)
    assert checks[0].status is CheckStatus.ERROR and message in checks[0].detail
    assert not any(c.status is CheckStatus.PASS for c in checks[:1])


def test_failover_result(spec, tmp_path):
    path = tmp_path / "failover.json"
    path.write_text(json.dumps({"rto_seconds": 4.0, "lost_writes": 0}))
    assert [c.status for c in failover_checks(path, spec.gate)] == [CheckStatus.PASS] * 2
    path.write_text(json.dumps({"rto_seconds": 12.5, "rpo_writes": 0}))
    rto = failover_checks(path, spec.gate)[0]
    assert rto.status is CheckStatus.FAIL and rto.threshold == 5
    assert all(c.status is CheckStatus.ERROR
               for c in failover_checks(tmp_path / "missing.json", spec.gate))


def test_failover_result_from_a_runbooks_cutover_record(spec, tmp_path):
    path = tmp_path / "cutover.json"
    record = {"kind_of_record": "chartguard.cutover", "kind": "failover", "status": "succeeded",
              "rto_s": None, "write_unavailable_s": 2.4, "rpo_writes": None, "lost_writes": 0}
    path.write_text(json.dumps(record))
    rto, rpo = failover_checks(path, spec.gate)
    assert (rto.status, rto.value) == (CheckStatus.PASS, 2.4)  # no probe ran: runbook's timing
    assert (rpo.status, rpo.value) == (CheckStatus.PASS, 0)
    path.write_text(json.dumps({**record, "rto_s": 7.5, "lost_writes": None}))
    rto, rpo = failover_checks(path, spec.gate)
    assert (rto.status, rto.value) == (CheckStatus.FAIL, 7.5)  # the probe's RTO wins
    assert rpo.status is CheckStatus.ERROR and "missing" in rpo.detail  # unmeasured: no pass


def test_junit_and_json_outputs():
    checks = [
        Check.compare(name="availability overall", value=0.95, threshold=0.999, comparator=">=",
                      unit="ratio", query="q1"),
        Check(name="latency overall", status=CheckStatus.ERROR, detail="no data"),
        Check(name="client view", status=CheckStatus.NOT_EVALUATED, detail="absent"),
        Check.compare(name="lag", value=0.2, threshold=5, comparator="<=", unit="s"),
    ]
    result = GateResult(window=TimeWindow(NOW - 60, NOW), baseline=None, profile="compressed",
                        prometheus_url="http://127.0.0.1:9090", checks=checks)
    suite = ET.fromstring(to_junit(result).split("?>", 1)[1])
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    assert suite.get("errors") == "1" and suite.get("skipped") == "1"
    failure = suite.find("testcase[@name='availability overall']/failure")
    assert failure is not None and "95.0000%" in failure.get("message", "")
    data = json.loads(to_json(result))
    assert data["outcome"] == "fail" and data["exit_code"] == 1
    assert data["counts"] == {"pass": 1, "fail": 1, "error": 1, "not_evaluated": 1}
    assert format_value(0.2, "s") == "200 ms" and format_value(None, "ratio") == "-"


def test_gate_against_no_prometheus_says_why_once_and_exits_2(tmp_path):
    """`chartguard gate` with nothing listening: exit 2, and one sentence naming the cause
    and the fix (not only a table repeating it on every check)."""
    import socket

    from click.testing import CliRunner

    from monitoring.cli import gate

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    out = tmp_path / "g.json"
    result = CliRunner().invoke(gate, ["--prometheus", url, "--window", "now-10m..now",
                                       "--json", str(out)])  # fmt: skip
    assert result.exit_code == 2
    text = " ".join(result.output.split())  # rich wraps long lines
    assert f"could not evaluate 9 of 9 checks: Prometheus at {url} did not answer" in text
    assert "pass --prometheus URL or set CHARTGUARD_PROMETHEUS_URL" in text
    assert json.loads(out.read_text())["outcome"] == "error"
    assert "Traceback" not in result.output


def test_error_summary_is_silent_when_the_gate_judged():
    from monitoring.gate import error_summary

    checks = [Check.compare(name="lag", value=0.2, threshold=5, comparator="<=", unit="s")]
    result = GateResult(window=TimeWindow(NOW - 60, NOW), baseline=None, profile="compressed",
                        prometheus_url="http://127.0.0.1:9090", checks=checks)
    assert error_summary(result) is None


def test_a_bad_setting_is_one_sentence_naming_the_variable(monkeypatch):
    from click.testing import CliRunner

    from monitoring.cli import gate

    monkeypatch.setenv("CHARTGUARD_QUERY_TIMEOUT", "abc")
    result = CliRunner().invoke(gate, ["--window", "now-10m..now"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad setting: CHARTGUARD_QUERY_TIMEOUT: Input should be a valid number" in " ".join(
        result.output.split())
