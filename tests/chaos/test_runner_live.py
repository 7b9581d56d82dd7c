"""The runner against a real Toxiproxy: it always leaves no toxic and every proxy enabled."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from chaos.adapter import ToxiproxyAdapter
from chaos.cli import chaos as chaos_cli
from chaos.errors import RecordError
from chaos.journal import RunStatus, Verdict
from chaos.metrics import FaultGauge
from chaos.record import FaultRecord
from chaos.runner import Runner
from chaos.scenario import Phase, Scenario, parse_scenario
from tests.chaos.conftest import ROOT

pytestmark = pytest.mark.integration


def scenario_data(
    *, url: str, duration: float = 1.0, max_latency_ms: float | None = None, **extra: Any
) -> dict[str, Any]:
    probe: dict[str, Any] = {"name": "edge-ok", "type": "http", "url": url, "timeout_s": 2}
    if max_latency_ms is not None:
        probe["max_latency_ms"] = max_latency_ms
    data: dict[str, Any] = {
        "title": "test brownout",
        "description": "latency and a partition on the test links",
        "models": "a brownout, in miniature",
        "duration": duration,
        "hypothesis": {"title": "edge answers", "interval_s": 0.3, "probes": [probe]},
        "method": [
            {
                "at": 0,
                "action": "add_toxic",
                "links": "edge-*",
                "toxic": {"name": "slow", "type": "latency", "attributes": {"latency": 100}},
            },
            {"at": 0.2, "action": "disable_link", "links": "repl-west"},
            {"at": 0.6, "action": "enable_link", "links": "repl-west"},
            {"at": 0.2, "action": "disable_link", "links": "db-west"},
        ],
    }
    data.update(extra)
    return data


def assert_clean(toxiproxy: ToxiproxyAdapter) -> None:
    for proxy in toxiproxy.proxies().values():
        assert proxy.enabled, f"{proxy.name} left disabled"
        assert not proxy.toxics, f"{proxy.name} left with {proxy.toxics}"


def make_runner(
    scenario: Scenario, toxiproxy: ToxiproxyAdapter, tmp_path: Path, **kwargs: Any
) -> Runner:
    return Runner(
        scenario,
        adapter=toxiproxy,
        record_path=tmp_path / "record.json",
        journal_path=tmp_path / "journal.json",
        **kwargs,
    )


def test_successful_run_journals_and_rolls_back(toxiproxy, links, tmp_path):
    url = f"http://{links['edge-east']}/ok"
    scenario = parse_scenario(scenario_data(url=url), name="mini")
    gauge = FaultGauge(registry=CollectorRegistry())
    seen: list[float | None] = []

    def sample(what: str, elapsed: float, total: float) -> None:
        seen.append(gauge.value(scenario="mini", link="db-west", toxic="disabled"))

    with make_runner(scenario, toxiproxy, tmp_path, gauge=gauge, on_progress=sample) as runner:
        result = runner.run()
    assert result.status == RunStatus.COMPLETED, result.error
    assert [result.verdict(p) for p in Phase] == [Verdict.PASSED] * 3
    assert_clean(toxiproxy)
    assert 1.0 in seen  # the gauge showed the partition while it was active
    assert gauge.value(scenario="mini", link="db-west", toxic="disabled") == 0
    assert gauge.value(scenario="mini", link="edge-east", toxic="slow") == 0
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed"
    assert journal["hypothesis"] == {"before": "passed", "during": "passed", "after": "passed"}
    actions = journal["actions"]
    assert [a["action"] for a in actions] == [
        "add_toxic",
        "disable_link",
        "disable_link",
        "enable_link",
    ]
    for action in actions:
        assert action["ok"] and action["started"]["epoch"] <= action["ended"]["epoch"]
        assert action["started"]["iso"].endswith("Z")
    # the offsets were kept on a real clock: the enable came ~0.6 s after the method started
    offset = actions[3]["started"]["epoch"] - journal["method_started"]["epoch"]
    assert 0.55 <= offset <= 1.0
    assert journal["rollback"]["ok"] is True
    assert sorted(journal["rollback"]["undone"]) == ["disabled@db-west", "slow@edge-east"]
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["state"] == "rolled_back"
    assert not any(f["active"] for f in record["faults"])


def test_latency_probe_fails_during_the_fault_and_still_rolls_back(toxiproxy, links, tmp_path):
    url = f"http://{links['edge-east']}/ok"
    data = scenario_data(url=url, max_latency_ms=80)
    data["method"][0]["toxic"]["attributes"] = {"latency": 300}
    scenario = parse_scenario(data, name="mini")
    with make_runner(scenario, toxiproxy, tmp_path) as runner:
        result = runner.run()
    assert result.status == RunStatus.DEVIATED
    assert result.verdict(Phase.BEFORE) == Verdict.PASSED
    assert result.verdict(Phase.DURING) == Verdict.FAILED
    assert result.verdict(Phase.AFTER) == Verdict.PASSED
    during = [c for c in result.checks if c.phase == Phase.DURING]
    assert during[0].probes[0].latency_ms >= 300
    assert result.rollback is not None and result.rollback.ok
    assert_clean(toxiproxy)


def test_hypothesis_failing_before_applies_nothing(toxiproxy, links, tmp_path):
    scenario = parse_scenario(scenario_data(url=f"http://{links['edge-east']}/fail"), name="m")
    with make_runner(scenario, toxiproxy, tmp_path) as runner:
        result = runner.run()
    assert result.status == RunStatus.ABORTED
    assert result.actions == []
    assert_clean(toxiproxy)


def test_exception_in_a_probe_rolls_back(toxiproxy, links, tmp_path):
    data = scenario_data(url=f"http://{links['edge-east']}/ok")
    data["hypothesis"]["probes"].append(
        {
            "name": "not-prometheus",
            "type": "prometheus",
            "url": f"http://{links['edge-east']}",  # an HTTP server, not Prometheus
            "query": "up",
            "min": 1,
            "when": ["during"],
        }
    )
    data["method"] = data["method"][:2]  # the toxic and the partition stay on
    scenario = parse_scenario(data, name="m")
    with make_runner(scenario, toxiproxy, tmp_path) as runner:
        result = runner.run()
    assert result.status == RunStatus.FAILED
    assert result.error is not None and "not Prometheus query JSON" in result.error
    assert len(result.actions) == 2
    assert result.rollback is not None and result.rollback.ok
    assert_clean(toxiproxy)


def test_exception_escaping_the_with_block_rolls_back(toxiproxy, links, tmp_path):
    scenario = parse_scenario(scenario_data(url=f"http://{links['edge-east']}/ok"), name="m")
    runner = make_runner(scenario, toxiproxy, tmp_path)

    def explode(what: str, elapsed: float, total: float) -> None:
        if runner.result.actions:
            raise KeyboardInterrupt  # not an Exception: escapes run() itself

    runner.on_progress = explode
    with pytest.raises(KeyboardInterrupt), runner:
        runner.run()
    assert_clean(toxiproxy)


def _write_scenario(tmp_path: Path, data: dict[str, Any], name: str = "long") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start_cli_run(
    tmp_path: Path, toxiproxy_url: str, scenario: Path, *, default_record: bool = False
) -> subprocess.Popen:
    env = {**os.environ, "CHARTGUARD_STATE_DIR": str(tmp_path / "state")}
    record = [] if default_record else ["--record", str(tmp_path / "record.json")]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runbooks.cli",
            "chaos",
            "run",
            str(scenario),
            "--toxiproxy",
            toxiproxy_url,
            *record,
            "--journal",
            str(tmp_path / "journal.json"),
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for_faults(toxiproxy: ToxiproxyAdapter, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        proxies = toxiproxy.proxies()
        if proxies["edge-east"].toxics and not proxies["db-west"].enabled:
            return
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"runner exited early ({proc.returncode}): {out}")
        time.sleep(0.05)
    pytest.fail("the runner never applied its faults")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_runner_process_rolls_back(toxiproxy, toxiproxy_url, links, tmp_path, signum):
    data = scenario_data(url=f"http://{links['edge-east']}/ok", duration=60)
    scenario = _write_scenario(tmp_path, data)
    proc = _start_cli_run(tmp_path, toxiproxy_url, scenario)
    try:
        _wait_for_faults(toxiproxy, proc)
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 5  # interrupted, rolled back
    finally:
        _kill_group(proc)
    assert_clean(toxiproxy)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted" and journal["rollback"]["ok"]


def test_chaos_rollback_cleans_up_after_sigkill(toxiproxy, toxiproxy_url, links, tmp_path):
    data = scenario_data(url=f"http://{links['edge-east']}/ok", duration=60)
    scenario = _write_scenario(tmp_path, data)
    proc = _start_cli_run(tmp_path, toxiproxy_url, scenario, default_record=True)
    try:
        _wait_for_faults(toxiproxy, proc)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        _kill_group(proc)
    assert toxiproxy.proxies()["edge-east"].toxics  # the killed run left its faults
    # Its journal is readable up to its last event, and says it never finished.
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "running" and journal["rollback"] is None
    assert {a["action"] for a in journal["actions"]} >= {"add_toxic", "disable_link"}
    assert all(a["ok"] for a in journal["actions"])
    assert journal["checks"][0]["phase"] == "before"
    record = tmp_path / "state" / "local" / "chaos" / "records" / "long.json"
    # A new run on the same record refuses to start on top of them.
    with pytest.raises(RecordError, match="never rolled back"):
        FaultRecord(record).begin(run_id="x", scenario="y", toxiproxy_url="z")
    cli = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path / "state")})
    result = cli.invoke(chaos_cli, ["rollback"])  # finds the pending record by itself
    assert result.exit_code == 0, result.output
    assert "rollback complete" in result.output and "undone slow@edge-east" in result.output
    assert_clean(toxiproxy)
    assert json.loads(record.read_text())["state"] == "rolled_back"
    again = cli.invoke(chaos_cli, ["rollback", "--record", str(record)])
    assert again.exit_code == 0 and "nothing to roll back" in again.output
    assert "nothing to roll back" in cli.invoke(chaos_cli, ["rollback"]).output


def test_chaos_rollback_refuses_a_live_run_unless_forced(toxiproxy, toxiproxy_url, links, tmp_path):
    data = scenario_data(url=f"http://{links['edge-east']}/ok", duration=60)
    scenario = _write_scenario(tmp_path, data)
    proc = _start_cli_run(tmp_path, toxiproxy_url, scenario, default_record=True)
    cli = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path / "state")})
    try:
        _wait_for_faults(toxiproxy, proc)
        before = _snapshot(toxiproxy)
        record = tmp_path / "state" / "local" / "chaos" / "records" / "long.json"
        for args in (["rollback"], ["rollback", "--record", str(record)]):
            refused = cli.invoke(chaos_cli, args)
            assert refused.exit_code == 2, refused.output
            assert f"still running (pid {proc.pid})" in refused.output
            assert "nothing was changed" in refused.output or "--force" in refused.output
            assert _snapshot(toxiproxy) == before  # the run's faults are untouched
        forced = cli.invoke(chaos_cli, ["rollback", "--force"])
        assert forced.exit_code == 0 and "rollback complete" in forced.output, forced.output
        assert_clean(toxiproxy)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 5  # the run ends; undoing again is a no-op
    finally:
        _kill_group(proc)
    assert_clean(toxiproxy)


def test_a_record_whose_runner_is_alive_blocks_a_second_run(tmp_path, sleeper):
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"state": "running", "runner_pid": sleeper.pid, "faults": []}))
    with pytest.raises(RecordError, match=f"still running .pid {sleeper.pid}"):
        FaultRecord(path).begin(run_id="x", scenario="y", toxiproxy_url="z")


def test_a_reused_runner_pid_is_not_mistaken_for_a_live_run(tmp_path, sleeper):
    """The record keeps its runner's start time: another process that got the pid since
    (here: a live sleeper with another start time) does not block anything."""
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"state": "running", "runner_pid": sleeper.pid,
                                "runner_identity": "1", "faults": []}))
    record = FaultRecord(path)
    record.load()
    assert record.live_runner() is None
    record.begin(run_id="x", scenario="y", toxiproxy_url="z")
    assert record.live_runner() == os.getpid()


def _snapshot(toxiproxy: ToxiproxyAdapter) -> dict[str, Any]:
    return {name: (p.enabled, p.toxics, p.upstream) for name, p in toxiproxy.proxies().items()}


def test_bad_scenario_file_changes_nothing(toxiproxy, toxiproxy_url, links, tmp_path):
    data = scenario_data(url=f"http://{links['edge-east']}/ok")
    data["method"].append(
        {
            "at": 0,
            "action": "add_toxic",
            "links": "edge-*",
            "toxic": {"name": "bad", "type": "latency", "attributes": {"latency": -5}},
        }
    )
    before = _snapshot(toxiproxy)
    result = CliRunner().invoke(
        chaos_cli,
        [
            "run",
            str(_write_scenario(tmp_path, data, "bad")),
            "--toxiproxy",
            toxiproxy_url,
            "--record",
            str(tmp_path / "record.json"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 2
    assert "method[4].toxic.attributes.latency: must be an integer >= 0" in result.output
    assert _snapshot(toxiproxy) == before
    assert not (tmp_path / "record.json").exists()


def test_link_glob_matching_nothing_changes_nothing(toxiproxy, links, tmp_path):
    data = scenario_data(url=f"http://{links['edge-east']}/ok")
    data["method"].append({"at": 0.5, "action": "disable_link", "links": "nowhere-*"})
    scenario = parse_scenario(data, name="m")
    before = _snapshot(toxiproxy)
    with make_runner(scenario, toxiproxy, tmp_path) as runner:
        result = runner.run()
    assert result.status == RunStatus.FAILED
    assert "method[4].links: 'nowhere-*' matches no proxy" in str(result.error)
    assert result.actions == [] and _snapshot(toxiproxy) == before


def test_refuses_a_proxy_with_an_upstream_outside_loopback(toxiproxy, links, tmp_path):
    toxiproxy.create_proxy(name="edge-far", listen="127.0.0.1:0", upstream="192.0.2.10:80")
    scenario = parse_scenario(scenario_data(url=f"http://{links['edge-east']}/ok"), name="m")
    before = _snapshot(toxiproxy)
    with make_runner(scenario, toxiproxy, tmp_path) as runner:
        result = runner.run()
    assert result.status == RunStatus.FAILED
    assert "proxy edge-far upstream: 192.0.2.10:80 is outside loopback" in str(result.error)
    assert _snapshot(toxiproxy) == before


def test_link_mapping_targets_arbitrary_proxy_names(toxiproxy, http_upstream, tmp_path):
    proxy = toxiproxy.create_proxy(name="shop_front", listen="127.0.0.1:0", upstream=http_upstream)
    for name in ("shop_repl", "shop_db"):
        toxiproxy.create_proxy(name=name, listen="127.0.0.1:0", upstream=http_upstream)
    scenario = parse_scenario(scenario_data(url=f"http://{proxy.listen}/ok"), name="m")
    from chaos.links import LinkMap

    mapping = LinkMap.parse(["edge-east=shop_front,repl-west=shop_repl", "db-west=shop_db"])
    with make_runner(scenario, toxiproxy, tmp_path, links=mapping) as runner:
        result = runner.run()
    assert result.status == RunStatus.COMPLETED, result.error
    assert result.actions[0].targets == ["shop_front"]
    assert_clean(toxiproxy)


def test_shared_start_time_is_honoured(toxiproxy, links, tmp_path):
    scenario = parse_scenario(scenario_data(url=f"http://{links['edge-east']}/ok"), name="m")
    start_at = time.time() + 0.8
    with make_runner(scenario, toxiproxy, tmp_path, start_at=start_at) as runner:
        result = runner.run()
    assert result.status == RunStatus.COMPLETED
    assert result.method_started is not None
    assert float(result.method_started["epoch"]) >= start_at - 0.01


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def sleeper() -> Any:
    """A stand-in region component: a real process in its own group, killed after the test."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        yield proc
    finally:
        _kill_group(proc)


def test_stop_process_freezes_and_rollback_continues_it(toxiproxy, links, tmp_path, sleeper):
    deployment_file = tmp_path / "deployment.json"
    deployment_file.write_text(
        json.dumps({"regions": [{"name": "west", "pids": {"ehr": sleeper.pid}}]})
    )
    from chaos.deployment import Deployment

    data = scenario_data(url=f"http://{links['edge-east']}/ok")
    data["method"] = [{"at": 0, "action": "stop_process", "region": "west", "component": "ehr"}]
    scenario = parse_scenario(data, name="m")
    states: list[str] = []

    def sample(what: str, elapsed: float, total: float) -> None:
        states.append(_state(sleeper.pid))

    runner = make_runner(
        scenario,
        toxiproxy,
        tmp_path,
        deployment=Deployment.load(deployment_file),
        on_progress=sample,
    )
    with runner:
        result = runner.run()
    assert result.status == RunStatus.COMPLETED, result.error
    assert "T" in states  # stopped while the method ran
    assert _state(sleeper.pid) in ("S", "R")  # continued by the rollback
    assert result.rollback is not None and result.rollback.undone == ["freeze@process:west:ehr"]


def test_stop_process_kill_mode_restarts_the_recorded_command(toxiproxy, links, tmp_path, sleeper):
    from chaos.deployment import Deployment

    deployment_file = tmp_path / "deployment.json"
    command = {"argv": ["sleep", "60"], "log": str(tmp_path / "sleep.log")}
    deployment_file.write_text(
        json.dumps(
            {
                "regions": [
                    {"name": "west", "pids": {"ehr": sleeper.pid}, "commands": {"ehr": command}}
                ]
            }
        )
    )
    data = scenario_data(url=f"http://{links['edge-east']}/ok")
    data["method"] = [
        {"at": 0, "action": "stop_process", "region": "west", "component": "ehr", "mode": "kill"},
        {"at": 0.5, "action": "start_process", "region": "west", "component": "ehr"},
    ]
    scenario = parse_scenario(data, name="m")
    runner = make_runner(scenario, toxiproxy, tmp_path, deployment=Deployment.load(deployment_file))
    try:
        with runner:
            result = runner.run()
        assert result.status == RunStatus.COMPLETED, result.error
        assert sleeper.wait(timeout=5) is not None  # the original was terminated
        faults = json.loads((tmp_path / "record.json").read_text())["faults"]
        assert len(faults) == 1 and not faults[0]["active"]
        new_pid = faults[0]["pid"]
        assert new_pid != sleeper.pid and _state(new_pid) in ("S", "R")
        # The deployment now names the process that runs, for the next scenario or rollback.
        assert Deployment.load(deployment_file).process("west", "ehr").pid == new_pid
    finally:
        for fault in json.loads((tmp_path / "record.json").read_text())["faults"]:
            try:
                os.killpg(fault["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def prometheus_url(tmp_path: Path) -> Any:
    """A real Prometheus on a free loopback port (no scrape targets), stopped after the test."""
    from tests.chaos.conftest import free_port

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    proc = subprocess.Popen(
        [
            "/usr/bin/prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("prometheus did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        _kill_group(proc)


def test_prometheus_probe_checks_bounds_on_a_real_prometheus(
    toxiproxy, links, prometheus_url, tmp_path
):
    data = scenario_data(url=f"http://{links['edge-east']}/ok")
    data["hypothesis"]["probes"] = [
        {"name": "in-bounds", "type": "prometheus", "query": "vector(1)", "min": 0.5, "max": 2},
        {
            "name": "too-high",
            "type": "prometheus",
            "query": "vector(7)",
            "max": 5,
            "when": ["during"],
        },
    ]
    scenario = parse_scenario(data, name="m")
    with make_runner(scenario, toxiproxy, tmp_path, variables={"prometheus": prometheus_url}) as r:
        result = r.run()
    assert result.status == RunStatus.DEVIATED, result.error
    before = next(c for c in result.checks if c.phase == Phase.BEFORE)
    assert before.ok and before.probes[0].value == 1
    during = next(c for c in result.checks if c.phase == Phase.DURING)
    too_high = next(p for p in during.probes if p.name == "too-high")
    assert not too_high.ok and too_high.value == 7 and "not in" in too_high.detail
    assert_clean(toxiproxy)


def test_cli_run_with_delay_textfile_and_exit_code(toxiproxy, toxiproxy_url, links, tmp_path):
    data = scenario_data(url=f"http://{links['edge-east']}/ok", duration=0.8)
    scenario = _write_scenario(tmp_path, data, "mini")
    textfile = tmp_path / "chaos.prom"
    started = time.time()
    cli = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path / "state")})
    result = cli.invoke(
        chaos_cli,
        ["run", str(scenario), "--toxiproxy", toxiproxy_url, "--delay", "0.4", "--no-progress",
         "--metrics-textfile", str(textfile), "--journal", str(tmp_path / "j.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "mini: completed (before: passed, during: passed, after: passed)" in result.output
    journal = json.loads((tmp_path / "j.json").read_text())
    assert journal["method_started"]["epoch"] >= started + 0.4
    gauge_lines = [line for line in textfile.read_text().splitlines() if "fault_active{" in line]
    assert gauge_lines and all(line.endswith(" 0.0") for line in gauge_lines)
    assert_clean(toxiproxy)


def test_cli_run_on_a_stack_lists_its_fault_gauge_for_prometheus(
    toxiproxy, toxiproxy_url, links, tmp_path
):
    """With the stack's file-discovery folder present, a run serves its gauge (a free port)
    and names it there while it runs; the listing is gone once the run has ended."""
    import threading

    targets = tmp_path / "state" / "local" / "prometheus" / "targets"
    targets.mkdir(parents=True)
    seen: list[dict] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.extend(json.loads(p.read_text()) for p in targets.glob("chaos-*.json"))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    scenario = _write_scenario(tmp_path, scenario_data(url=f"http://{links['edge-east']}/ok",
                                                       duration=0.8), "mini")
    cli = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path / "state")})
    try:
        result = cli.invoke(chaos_cli, ["run", str(scenario), "--toxiproxy", toxiproxy_url,
                                        "--no-progress"])
    finally:
        done.set()
        watcher.join(timeout=5)
    assert result.exit_code == 0, result.output
    served = re.search(r"fault gauge on http://(127\.0\.0\.1:\d+)/metrics", result.output)
    assert served, result.output
    assert seen and seen[-1][0]["targets"] == [served.group(1)]
    assert seen[-1][0]["labels"]["chaos_scenario"] == "mini"
    assert list(targets.iterdir()) == []
    assert_clean(toxiproxy)


def test_dry_run_against_a_server_resolves_links_and_changes_nothing(
    toxiproxy, toxiproxy_url, links, tmp_path
):
    before = _snapshot(toxiproxy)
    cli = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path)})
    result = cli.invoke(
        chaos_cli,
        ["run", "region-blackout", "--dry-run", "--toxiproxy", toxiproxy_url,
         "--links", "edge-east=db-west,db-east=repl-west"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "disable_link db-west" in result.output and "disable_link repl-west" in result.output
    assert _snapshot(toxiproxy) == before
    missing = cli.invoke(
        chaos_cli, ["run", "replication-partition", "--dry-run", "--toxiproxy", toxiproxy_url,
                    "--links", "repl-west=nothing"]
    )  # fmt: skip
    assert missing.exit_code == 2 and "method[0].links: 'repl-west' matches no proxy" in (
        missing.output
    )


def test_after_check_retries_until_recovery(toxiproxy, links, tmp_path):
    """The hypothesis may need time to hold again after the rollback: recovery_s allows it."""
    recovered_at = time.time() + 1.5
    data = scenario_data(url=f"http://{links['edge-east']}/ok", duration=0.4)
    data["hypothesis"]["recovery_s"] = 5
    data["hypothesis"]["probes"].append(
        {
            "name": "recovering",
            "type": "http",
            "url": f"http://{links['edge-east']}/until/{recovered_at}",  # 503 until then
            "when": ["after"],
        }
    )
    data["method"] = [{"at": 0, "action": "disable_link", "links": "db-west"}]
    with make_runner(parse_scenario(data, name="m"), toxiproxy, tmp_path) as runner:
        result = runner.run()
    after = [c for c in result.checks if c.phase == Phase.AFTER]
    assert len(after) >= 2 and not after[0].ok and after[-1].ok
    assert float(after[-1].at["epoch"]) >= recovered_at
    assert result.status == RunStatus.COMPLETED
    assert_clean(toxiproxy)


def test_a_slow_probe_does_not_delay_the_timeline(toxiproxy, links, tmp_path):
    data = scenario_data(url=f"http://{links['edge-east']}/ok", duration=1.2)
    data["method"] = [
        {"at": 0, "action": "add_toxic", "links": "edge-east",
         "toxic": {"name": "slow", "type": "latency", "attributes": {"latency": 800}}},
        {"at": 0.1, "action": "disable_link", "links": "db-west"},
        {"at": 0.5, "action": "enable_link", "links": "db-west"},
    ]  # fmt: skip
    with make_runner(parse_scenario(data, name="m"), toxiproxy, tmp_path) as runner:
        result = runner.run()
    assert result.status == RunStatus.COMPLETED, result.error
    method_start = float(result.method_started["epoch"])  # type: ignore[index]
    enable = result.actions[2]
    assert enable.action == "enable_link"
    # the check started at 0.3 s takes 0.8 s; the enable at 0.5 s must not wait for it
    assert float(enable.started["epoch"]) - method_start < 0.75
    during = [c for c in result.checks if c.phase == Phase.DURING]
    assert during and during[0].probes[0].latency_ms >= 800
    assert_clean(toxiproxy)
