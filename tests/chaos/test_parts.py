"""The small parts: links, loopback guard, timestamps, record, deployment, gauge, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from chaos.cli import chaos as chaos_cli
from chaos.deployment import Deployment
from chaos.errors import ChaosError, DeploymentError, ProbeError, RecordError, UnsafeTargetError
from chaos.links import LinkMap
from chaos.metrics import FaultGauge
from chaos.probes import resolve_url
from chaos.record import Fault, FaultRecord
from chaos.safety import is_loopback_host, require_loopback_address, require_loopback_url
from chaos.timestamps import parse_start_at, stamp_of

pytestmark = pytest.mark.unit


def test_link_map_resolves_globs_over_mapped_names():
    links = LinkMap.parse(["edge-east=front_a, edge-west=front_b", "db-east=pg"])
    proxies = ["front_a", "front_b", "pg", "other"]
    assert links.resolve("edge-*", proxies) == ["front_a", "front_b"]
    assert links.resolve("db-east", proxies) == ["pg"]
    assert links.resolve("other", proxies) == ["other"]
    assert links.resolve("repl-*", proxies) == []
    assert LinkMap().resolve("edge-*", ["edge-east", "db-east"]) == ["edge-east"]
    # a mapped link name no longer reaches the proxy that happens to carry that name
    assert LinkMap.parse(["edge-east=x"]).resolve("edge-*", ["edge-east", "x"]) == ["x"]


@pytest.mark.parametrize("bad", ["edge-east", "=x", "a=", "a=b,a=c"])
def test_link_map_rejects_bad_entries(bad):
    with pytest.raises(ChaosError, match="--links"):
        LinkMap.parse([bad])


def test_loopback_guard():
    assert is_loopback_host("127.0.2.1") and is_loopback_host("::1")
    assert is_loopback_host("localhost")
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host("no-such-host.invalid")
    require_loopback_address("127.0.1.1:5432", what="x")
    require_loopback_address("[::1]:80", what="x")
    with pytest.raises(UnsafeTargetError, match="upstream: 192.0.2.1:80 is outside loopback"):
        require_loopback_address("192.0.2.1:80", what="upstream")
    with pytest.raises(UnsafeTargetError):
        require_loopback_url("http://example.com/", what="probe")
    with pytest.raises(UnsafeTargetError):
        require_loopback_url("file:///etc/passwd", what="probe")


def test_probe_urls_take_variables_and_must_stay_on_loopback():
    assert resolve_url("${router}/readyz", {"router": "http://127.0.0.1:8080"}, what="p") == (
        "http://127.0.0.1:8080/readyz"
    )
    with pytest.raises(ProbeError, match="unknown variable 'nope'"):
        resolve_url("${nope}/x", {}, what="p")
    with pytest.raises(UnsafeTargetError):
        resolve_url("${r}/x", {"r": "http://192.0.2.1"}, what="p")


def test_start_times_parse_from_epoch_and_iso():
    assert parse_start_at("1767225600.5") == 1767225600.5
    assert parse_start_at("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_start_at("2026-01-01T00:00:00") == 1767225600.0
    with pytest.raises(ValueError, match="neither epoch"):
        parse_start_at("tomorrow")
    assert stamp_of(1767225600.0) == {"iso": "2026-01-01T00:00:00.000Z", "epoch": 1767225600.0}


def test_record_tracks_active_faults_and_blocks_a_second_run(tmp_path: Path):
    path = tmp_path / "r.json"
    record = FaultRecord(path)
    record.begin(run_id="a", scenario="s", toxiproxy_url="http://127.0.0.1:1")
    toxic = Fault(kind="toxic", proxy="edge-east", toxic="slow")
    link = Fault(kind="link", proxy="db-east")
    record.add(toxic)
    record.add(link)
    on_disk = json.loads(path.read_text())
    assert [f["active"] for f in on_disk["faults"]] == [True, True]
    record.mark_undone(toxic)
    assert FaultRecord(path).load() and [f.key for f in record.active()] == [link.key]
    with pytest.raises(RecordError, match="never rolled back"):
        FaultRecord(path).begin(run_id="b", scenario="s", toxiproxy_url="u")
    record.finish("rolled_back")
    FaultRecord(path).begin(run_id="b", scenario="s", toxiproxy_url="u")  # now allowed
    with pytest.raises(RecordError, match="no chaos record"):
        FaultRecord(tmp_path / "none.json").load()
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(RecordError, match="unreadable"):
        FaultRecord(tmp_path / "bad.json").load()


def test_fault_labels():
    process = Fault(kind="process", region="west", component="ehr", pid=5, mode="freeze")
    assert (process.link_label, process.toxic_label) == ("process:west:ehr", "freeze")
    assert Fault.from_json(process.as_json()) == process


def test_deployment_reads_pids_commands_and_urls(tmp_path: Path):
    path = tmp_path / "deployment.json"
    path.write_text(
        json.dumps(
            {
                "toxiproxy": {"url": "http://127.0.0.1:8474"},
                "router": "http://127.0.0.1:8080",
                "regions": [
                    {
                        "name": "east",
                        "ehr_url": "http://127.0.1.1:8000",
                        "pids": {"ehr": 4242},
                        "commands": {"ehr": {"argv": ["x", "y"], "cwd": "/tmp"}},
                    }
                ],
            }
        )
    )
    d = Deployment.load(path)
    assert d.toxiproxy_url == "http://127.0.0.1:8474"
    assert d.variables["router"] == "http://127.0.0.1:8080"
    assert d.variables["ehr_east"] == "http://127.0.1.1:8000"
    assert d.process("east", "ehr").argv == ("x", "y")
    with pytest.raises(DeploymentError, match="no process west:ehr .known: east:ehr"):
        d.process("west", "ehr")
    with pytest.raises(DeploymentError, match="no deployment file"):
        Deployment.load(tmp_path / "missing.json")
    path.write_text(json.dumps({"regions": [{"name": "east", "pids": {"ehr": "x"}}]}))
    with pytest.raises(DeploymentError, match=r"regions\[0\].pids.ehr is not a pid"):
        Deployment.load(path)


def test_gauge_uses_the_injected_registry_textfile_and_loopback_server(tmp_path: Path):
    registry = CollectorRegistry()
    gauge = FaultGauge(registry=registry, textfile=tmp_path / "chaos.prom")
    gauge.set(scenario="s", link="edge-east", toxic="slow", active=True)
    labels = {"scenario": "s", "link": "edge-east", "toxic": "slow"}
    assert registry.get_sample_value("chartguard_chaos_fault_active", labels) == 1
    assert 'chartguard_chaos_fault_active{link="edge-east"' in (tmp_path / "chaos.prom").read_text()
    port = gauge.serve(0)
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'toxic="slow"} 1.0' in body
    finally:
        gauge.close()
    gauge.set(scenario="s", link="edge-east", toxic="slow", active=False)
    assert gauge.value(scenario="s", link="edge-east", toxic="slow") == 0
    with pytest.raises(UnsafeTargetError):
        FaultGauge().serve(0, addr="0.0.0.0")


def test_cli_list_show_and_dry_run(tmp_path: Path):
    runner = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path)})
    listed = runner.invoke(chaos_cli, ["list"])
    assert listed.exit_code == 0 and "bgp-brownout" in listed.output
    shown = runner.invoke(chaos_cli, ["show", "replication-partition", "--time-scale", "2"])
    assert shown.exit_code == 0, shown.output
    assert "+   10.00s  disable_link repl-west" in shown.output
    dry = runner.invoke(chaos_cli, ["run", "bgp-brownout", "--dry-run", "--time-scale", "100"])
    assert dry.exit_code == 0, dry.output
    assert "nothing changed" in dry.output and "add_toxic bgp-latency" in dry.output


def test_cli_bad_input_exits_2_with_the_field(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\n")
    cli = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path)})
    result = cli.invoke(chaos_cli, ["run", str(bad), "--dry-run"])
    assert result.exit_code == 2
    assert "description: is required" in result.output
    for args in (["--start-at", "soon"], ["--delay", "-1"], ["--links", "oops"]):
        result = cli.invoke(chaos_cli, ["run", "half-open", "--dry-run", *args])
        assert result.exit_code == 2, (args, result.output)


def test_non_loopback_toxiproxy_is_refused():
    from chaos.adapter import ToxiproxyAdapter

    with pytest.raises(UnsafeTargetError, match="toxiproxy API"):
        ToxiproxyAdapter("http://192.0.2.1:8474")


def test_an_unreachable_toxiproxy_is_one_sentence_with_the_fix(tmp_path):
    """No urllib3 connection-pool repr: what failed, where, and what to do."""
    import socket

    from chaos.adapter import ToxiproxyAdapter
    from chaos.errors import ToxiproxyError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ToxiproxyError) as refused:
        ToxiproxyAdapter(f"http://127.0.0.1:{port}", timeout_s=1).proxies()
    message = str(refused.value)
    assert message.startswith(f"cannot reach toxiproxy at http://127.0.0.1:{port} (connection")
    assert "is toxiproxy-server running there?" in message
    assert "HTTPConnectionPool" not in message and "Errno" not in message
    result = CliRunner().invoke(
        chaos_cli, ["rollback", "--reset", "--toxiproxy", f"http://127.0.0.1:{port}"]
    )
    assert result.exit_code == 2 and "HTTPConnectionPool" not in result.output


def test_list_shows_what_each_scenario_models_in_whole_sentences(tmp_path: Path):
    """The models text is wrapped over lines in the YAML; the list showed only its first
    line, cut mid-sentence ("... drops a flow's state: connections")."""
    runner = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path), "COLUMNS": "400"})
    listed = runner.invoke(chaos_cli, ["list"])
    assert listed.exit_code == 0
    assert ("drops a flow's state: connections look open to both ends but nothing gets "
            "through, and closes linger.") in listed.output  # fmt: skip


def test_a_bad_setting_is_one_sentence_naming_the_variable(tmp_path: Path):
    runner = CliRunner(env={"CHARTGUARD_STATE_DIR": str(tmp_path),
                            "CHARTGUARD_TOXIPROXY_TIMEOUT_S": "abc"})  # fmt: skip
    result = runner.invoke(chaos_cli, ["run", "bgp-brownout", "--dry-run"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad setting: CHARTGUARD_TOXIPROXY_TIMEOUT_S: Input should be a valid number" in (
        " ".join(result.output.split())
    )
