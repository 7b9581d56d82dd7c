import json

import pytest

from loadtests.capacity import StepCapacity
from loadtests.faults import read_fault_windows
from loadtests.profile import Thresholds
from loadtests.summary import EndpointStats, RunSummary, fault_window_stats
from loadtests.timeline import EndpointCounters, Timeline, WindowStats
from loadtests.verdict import GeneratorHealth, Verdict, judge

pytestmark = pytest.mark.unit

THRESHOLDS = Thresholds()


def window(*, requests=1000, failures=0, seconds=10.0, read_ms=50, cpu=20.0, users=10):
    return WindowStats(
        start=0.0,
        end=seconds,
        requests=requests,
        failures=failures,
        latency={"read": {read_ms: requests}} if requests else {},
        users_min=users,
        users_max=users,
        target_users_max=10,
        cpu_max=cpu,
        cpu_mean=cpu,
    )


def healthy(cpu=20.0, users=10):
    return GeneratorHealth(cpu_mean_percent=cpu, cpu_max_percent=cpu, users_min=users,
                           target_users=10)


def test_full_rate_within_thresholds_passes():
    result = judge(thresholds=THRESHOLDS, run=window(), measured=window(), target_rate=100.0,
                   generator=healthy())
    assert result.verdict is Verdict.passed and result.verdict.exit_code == 0
    assert {c.name for c in result.checks} >= {"error_rate", "read.p99_ms", "achieved_rate_ratio"}


def test_no_requests_is_no_data_not_a_pass():
    result = judge(thresholds=THRESHOLDS, run=window(requests=0), measured=None,
                   target_rate=10.0, generator=None)
    assert result.verdict is Verdict.no_data and result.verdict.exit_code != 0


def test_never_reaching_the_measured_window_is_no_data():
    result = judge(thresholds=THRESHOLDS, run=window(), measured=window(requests=0),
                   target_rate=10.0, generator=healthy())
    assert result.verdict is Verdict.no_data


def test_slow_endpoint_class_fails_its_p99():
    slow = window(read_ms=900)
    result = judge(thresholds=THRESHOLDS, run=slow, measured=slow, target_rate=100.0,
                   generator=healthy())
    assert result.verdict is Verdict.failed
    assert any("read.p99_ms" in r for r in result.reasons)


def test_short_rate_with_saturated_generator_blames_the_generator():
    short = window(requests=800)
    result = judge(thresholds=THRESHOLDS, run=short, measured=short, target_rate=100.0,
                   generator=healthy(cpu=97.0))
    assert result.verdict is Verdict.generator_bottleneck
    assert any("CPU" in r for r in result.reasons)


def test_short_rate_with_users_missing_while_healthy_blames_the_generator():
    short = window(requests=800)
    result = judge(thresholds=THRESHOLDS, run=short, measured=short, target_rate=100.0,
                   generator=healthy(users=6))
    assert result.verdict is Verdict.generator_bottleneck
    assert any("6 of 10 users" in r for r in result.reasons)


def test_short_rate_with_a_failing_service_is_the_systems_failure():
    bad = window(requests=800, failures=100, read_ms=2000)
    result = judge(thresholds=THRESHOLDS, run=bad, measured=bad, target_rate=100.0,
                   generator=healthy())
    assert result.verdict is Verdict.failed


def test_step_capacity_knee_is_the_last_step_that_held():
    capacity = StepCapacity(THRESHOLDS)
    capacity.record("step-1", users=10, target_rate=50.0, window=window(requests=500))
    capacity.record("step-2", users=20, target_rate=100.0, window=window(requests=990))
    broke = capacity.record("step-3", users=30, target_rate=150.0,
                            window=window(requests=1500, read_ms=800))
    assert not broke.held and capacity.broken
    assert capacity.knee is not None and capacity.knee.step == "step-2"
    data = capacity.to_dict()
    assert data["knee"]["users"] == 20 and data["broke_at"] == "step-3"
    assert data["generator_limited"] is False


def test_fault_windows_from_a_chaos_journal(tmp_path):
    journal = {
        "kind": "chartguard.chaos.journal",
        "ended": {"iso": "x", "epoch": 200.0},
        "actions": [
            {"action": "add_toxic", "targets": ["edge-east"],
             "started": {"epoch": 110.0}, "ended": {"epoch": 110.1}},
            {"action": "remove_toxic", "targets": ["edge-east"],
             "started": {"epoch": 120.0}, "ended": {"epoch": 120.2}},
            {"action": "stop_process", "targets": ["ehr-east"],
             "started": "1970-01-01T00:02:10Z", "ended": None},
        ],
    }
    path = tmp_path / "journal.json"
    path.write_text(json.dumps(journal))
    windows = read_fault_windows(path)
    assert [(w.name, w.start, w.end) for w in windows] == [
        ("add_toxic:edge-east", 110.0, 120.2),
        ("stop_process:ehr-east", 130.0, 200.0),
    ]
    timeline = Timeline()
    for t in range(1, 41):
        timeline.record(float(t), users=1, target_users=1, cpu_percent=1.0,
                        endpoints={"GET /x": EndpointCounters(t, 0, {5: t})})
    marked = fault_window_stats(timeline, windows, started_epoch=100.0)
    assert marked[0]["stats"]["requests"] == 10
    assert marked[1]["during_run"] is True


def test_summary_writes_json_and_csv(tmp_path):
    stats = EndpointStats("GET /x", "read", 10, 1, 2.0, 5.0, 9.0, 9.0, 5.5, 9.0)
    summary = RunSummary(
        profile={"name": "t"}, shape="monday-surge", target="http://127.0.0.1:1",
        time_scale=60.0, workers=0, started_epoch=1.0, seconds=5.0,
        total=EndpointStats("Total", "all", 10, 1, 2.0, 5.0, 9.0, 9.0, 5.5, 9.0),
        endpoints=[stats],
        judgement=judge(thresholds=THRESHOLDS, run=window(), measured=window(),
                        target_rate=100.0, generator=healthy()),
    )
    summary_path, csv_path = summary.write(tmp_path / "out")
    data = json.loads(summary_path.read_text())
    assert data["verdict"] == "pass" and data["endpoints"][0]["endpoint"] == "GET /x"
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("endpoint,class,requests") and rows[-1].startswith("Total")


def test_a_window_too_short_to_judge_the_rate_is_no_data():
    # 10 people, ~5 requests expected: a person's phase alone moves the count by 20%.
    few = window(requests=5, seconds=10.0, users=10)
    result = judge(thresholds=THRESHOLDS, run=few, measured=few, target_rate=0.5,
                   generator=healthy())
    assert result.verdict is Verdict.no_data
    assert "too short" in result.reasons[0]
    # A slow service still fails, whatever the window.
    slow = window(requests=5, seconds=10.0, users=10, read_ms=3000)
    result = judge(thresholds=THRESHOLDS, run=slow, measured=slow, target_rate=0.5,
                   generator=healthy())
    assert result.verdict is Verdict.failed
