
import httpx
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from loadtests.cli import load
from loadtests.errors import ProfileError
from loadtests.exporter import LoadCollector, LoadSnapshot, serve_metrics
from loadtests.profile import EndpointClass, Thresholds
from loadtests.slo import apply_slo, read_latency_slo
from loadtests.timeline import EndpointCounters

pytestmark = pytest.mark.unit

SNAPSHOT = LoadSnapshot(
    endpoints={
        "GET /api/v1/patients/{id}": EndpointCounters(10, 2, {20: 8, 700: 2}),
        "PATCH /api/v1/patients/{id}": EndpointCounters(4, 0, {30: 4}),
    },
    users=5,
    target_users=6,
    target_rate=2.5,
    achieved_rate=2.0,
    cpu_percent=12.0,
    ledger={"ack": 4},
)


def test_collector_renders_the_client_view():
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LoadCollector(lambda: SNAPSHOT))
    text = generate_latest(registry).decode()
    ok = ('chartguard_load_requests_total{class="read",endpoint="/api/v1/patients/{id}",'
          'method="GET",outcome="ok"} 8.0')  # fmt: skip
    assert ok in text
    assert 'outcome="error"} 2.0' in text
    assert 'chartguard_load_request_duration_seconds_bucket{class="read",le="0.5"} 8.0' in text
    assert 'chartguard_load_request_duration_seconds_bucket{class="read",le="+Inf"} 10.0' in text
    assert "chartguard_load_users 5.0" in text
    assert 'chartguard_load_ledger_writes_total{status="ack"} 4.0' in text


def test_metrics_are_served_on_loopback():
    server, url = serve_metrics(lambda: SNAPSHOT, host="127.0.0.1", port=0)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert "chartguard_load_target_users 6.0" in httpx.get(url, timeout=5).text
    finally:
        server.shutdown()
        server.server_close()


def test_latency_slo_is_read_from_the_spec(tmp_path):
    spec = tmp_path / "slo.yaml"
    spec.write_text(yaml.safe_dump({"objectives": {"latency": {"target": 0.99,
                                                                "threshold": "300ms"}}}))
    threshold, target = read_latency_slo(spec)
    assert (threshold, target) == (300.0, 0.99)
    held = apply_slo(Thresholds(), threshold, target)
    assert held.latency_ms[EndpointClass.read].p99_ms == 300.0
    assert held.latency_ms[EndpointClass.write].p99_ms == 300.0
    assert held.latency_ms[EndpointClass.read].p95_ms is None  # the SLO replaces the limits
    assert held.latency_ms[EndpointClass.report] == Thresholds().latency_ms[EndpointClass.report]
    spec.write_text(yaml.safe_dump({"objectives": {"latency": {"target": 0.99,
                                                                "threshold": "soon"}}}))
    with pytest.raises(ProfileError, match="objectives.latency.threshold"):
        read_latency_slo(spec)


def test_the_projects_slo_spec_is_readable():
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "monitoring" / "slo.yaml"
    if not spec.exists():
        pytest.skip("monitoring/slo.yaml not present")
    threshold, target = read_latency_slo(spec)
    assert threshold > 0 and 0 < target < 1


def test_run_with_a_bad_profile_names_the_field_and_starts_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"practices": -1, "people": {}, "actions_per_hour": {},
                                   "monday_peak_factor": 2}))  # fmt: skip
    result = CliRunner().invoke(
        load, ["run", "--profile", str(bad), "--target", "http://127.0.0.1:9", "--quiet"]
    )
    assert result.exit_code == 2
    assert "practices" in result.output


def test_run_refuses_a_target_that_is_not_a_url():
    result = CliRunner().invoke(load, ["run", "--target", "ftp://x", "--quiet"])
    assert result.exit_code == 2 and "not an http(s) URL" in result.output


def test_verify_without_a_ledger_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        load, ["verify", "--ledger", str(tmp_path / "none.jsonl"), "--target", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2 and "no ledger" in result.output


def test_load_help_lists_the_documented_worker_command():
    """docs/load.md tells operators to run `chartguard load worker` on other machines."""
    result = CliRunner().invoke(load, ["--help"])
    assert result.exit_code == 0
    assert {"run", "verify", "worker"} <= {
        line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()
    }


def test_locusts_spawn_rate_warning_is_silenced_but_other_warnings_show():
    """Compressed shapes ramp past 100 users/s on purpose; Locust's warning about it came
    once per shape tick and buried the summary. (A subprocess: Locust patches its process.)"""
    import subprocess
    import sys

    code = (
        "import logging, loadtests.runner, locust.runners as r\n"
        "log = logging.getLogger(r.__name__)\n"
        "log.warning('Your selected spawn rate is very high (>100), and this is known')\n"
        "log.warning('another locust warning')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "spawn rate is very high" not in done.stderr
    assert "another locust warning" in done.stderr


def test_a_bad_setting_is_one_sentence_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTGUARD_LOAD_REQUEST_TIMEOUT_SECONDS", "abc")
    result = CliRunner().invoke(load, ["run", "--target", "http://127.0.0.1:9", "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad setting: CHARTGUARD_LOAD_REQUEST_TIMEOUT_SECONDS: Input should be a valid " \
        "number" in result.output
    monkeypatch.delenv("CHARTGUARD_LOAD_REQUEST_TIMEOUT_SECONDS")
    monkeypatch.setenv("CHARTGUARD_SEED_PASSWORD", "short")
    ledger = tmp_path / "l.jsonl"
    ledger.write_text("")
    result = CliRunner().invoke(load, ["verify", "--ledger", str(ledger),
                                       "--target", "http://127.0.0.1:9"])  # fmt: skip
    assert result.exit_code == 2
    assert "CHARTGUARD_SEED_PASSWORD: String should have at least 8 characters" in result.output
    assert "short" not in result.output  # the value is never echoed
