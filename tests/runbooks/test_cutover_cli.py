"""The cutover CLI and the deployment-file view, without a running stack."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from infra.outputs import deployment_document, stack_outputs
from infra.topology import Topology
from runbooks.cli import main
from runbooks.errors import PrecheckFailed
from runbooks.local.cluster import LocalCluster, topology_from_deployment

pytestmark = pytest.mark.unit


def write_deployment(state_dir, *, offset=0, regions=None):
    config = {"regions": regions} if regions else {}
    topology = Topology.from_config(config, stack="local").with_port_offset(offset)
    document = deployment_document(stack_outputs(topology), stack="local")
    path = state_dir / "local" / "deployment.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    return topology, path


def test_topology_round_trips_through_the_deployment_file(tmp_path):
    topology, path = write_deployment(tmp_path, offset=100)
    rebuilt = topology_from_deployment(json.loads(path.read_text()))
    assert rebuilt.to_dict() == {**topology.to_dict()}


def test_cluster_from_deployment_has_the_deployed_specs(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    _, path = write_deployment(tmp_path)
    cluster = LocalCluster.from_deployment(path)
    assert cluster.primary == "east" and cluster.standbys == ("west",)
    assert cluster.db("west").upstream_port == 25432
    assert cluster.router is not None and cluster.router.socket_path == tmp_path / "local" / \
        "haproxy.sock"
    swapped = cluster.with_primary("west")
    assert swapped.primary == "west"
    assert swapped.db("east").upstream_host == "127.0.1.1"  # through repl-east
    with pytest.raises(PrecheckFailed, match="no region named 'north'"):
        cluster.db("north")


def test_record_roles_rewrites_roles_and_repl_links(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    _, path = write_deployment(tmp_path)
    LocalCluster.from_deployment(path).with_primary("west").record_roles(router_pid=42)
    document = json.loads(path.read_text())
    assert {r["name"]: r["role"] for r in document["regions"]} == {
        "east": "standby", "west": "primary"}
    repl = [ln for ln in document["links"] if ln["name"].startswith("repl-")]
    assert repl == [{"name": "repl-east", "listen": "127.0.1.1:25432",
                     "upstream": "127.0.2.1:5432"}]
    assert document["service_pids"]["router"] == 42


def test_migrate_dry_run_prints_the_plan_and_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    _, path = write_deployment(tmp_path)
    before = path.read_text()
    result = CliRunner().invoke(main, ["migrate", "--from", "east", "--to", "west", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "promote west" in result.output and "fence east" in result.output
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["migrate", "--from", "west", "--to", "east", "--dry-run"], "'west' is not the primary"),
        (["migrate", "--from", "east", "--to", "east", "--dry-run"], "both 'east'"),
        (["migrate", "--from", "east", "--to", "north", "--dry-run"], "no region named 'north'"),
        (["failover", "--to", "mars", "--dry-run"], "no region named 'mars'"),
        (["rollback"], "no previous cutover"),
    ],
)
def test_bad_input_is_refused_with_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    write_deployment(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_missing_deployment_says_the_stack_is_not_up(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["migrate", "--from", "east", "--to", "west", "--dry-run"])
    assert result.exit_code == 2
    assert "is the stack up" in result.output
