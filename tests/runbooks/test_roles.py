"""The runbook side of recorded roles, without a running stack.

``record_roles`` writes ``roles.json`` beside ``deployment.json`` and takes the ``repl-``
links from the topology (the plan's function), for three regions too; after a cutover
that succeeded the CLI stamps what set the roles and says the stack records them; a
damaged roles file is a warning, not a crash.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.local.plan import plan
from infra.local.settings import LocalSettings
from infra.outputs import deployment_document, stack_outputs
from infra.roles import read_roles, roles_path, write_roles
from infra.topology import Topology
from runbooks.cutover_cli import _recorded
from runbooks.local.cluster import LocalCluster

pytestmark = pytest.mark.unit


def _deployment(state_dir: Path, config: dict) -> Path:
    topology = Topology.from_config(config, stack="local")
    path = state_dir / "local" / "deployment.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(deployment_document(stack_outputs(topology), stack="local")))
    return path


def test_record_roles_writes_roles_json_and_the_plans_repl_links(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    path = _deployment(tmp_path, {"regions": ["east", "west", "south"]})
    LocalCluster.from_deployment(path).with_primary("west").record_roles(set_by="failover")
    assignment = read_roles(roles_path(path.parent), stack="local")
    assert assignment is not None and assignment.set_by == "failover"
    assert assignment.roles == {"east": "standby", "west": "primary", "south": "standby"}
    document = json.loads(path.read_text())
    repl = {ln["name"]: ln for ln in document["links"] if ln["name"].startswith("repl-")}
    # What the stack's plan declares for the same roles, link for link.
    moved = Topology.from_config({"regions": ["east", "west", "south"]}).with_roles(
        assignment.roles)
    the_plan = plan(moved, settings=LocalSettings(state_dir=tmp_path))
    planned = {ln.name: ln for ln in the_plan.links if ln.name.startswith("repl-")}
    assert set(repl) == set(planned) == {"repl-east", "repl-south"}
    for name, link in planned.items():
        assert (repl[name]["listen"], repl[name]["upstream"]) == (
            f"{link.listen_host}:{link.listen_port}",
            f"{link.upstream_host}:{link.upstream_port}")
    # And the standbys' databases stream through them, as the runbook points them.
    dbs = {db.name: db for db in the_plan.databases}
    assert (dbs["south"].upstream_host, dbs["south"].upstream_port) == ("127.0.3.1", 25432)


def test_after_a_cutover_the_cli_says_the_stack_records_the_roles(tmp_path, capsys):
    stack_dir = tmp_path / "local"
    write_roles(roles_path(stack_dir), {"east": "standby", "west": "primary"}, stack="local",
                set_by="runbook")
    settings = SimpleNamespace(state_dir=tmp_path, stack="local")
    _recorded(SimpleNamespace(kind="migrate"), settings, None)
    said = capsys.readouterr().out
    assert "the stack now records west as primary" in said
    assert "chartguard up` keeps these roles" in said
    assert read_roles(roles_path(stack_dir)).set_by == "migrate"  # type: ignore[union-attr]


def test_a_damaged_roles_file_is_a_warning_not_a_crash(tmp_path, capsys):
    path = roles_path(tmp_path / "local")
    path.parent.mkdir(parents=True)
    path.write_text("{oops")
    _recorded(SimpleNamespace(kind="failover"), SimpleNamespace(state_dir=tmp_path,
                                                                stack="local"), "local")
    said = capsys.readouterr()
    assert "may not record the new roles" in said.err and "not valid JSON" in said.err
    assert path.read_text() == "{oops"  # left for the operator to look at
    # No roles file at all (a cluster without a deployment path): nothing to say.
    _recorded(SimpleNamespace(kind="migrate"), SimpleNamespace(state_dir=tmp_path / "x",
                                                               stack="local"), None)
    assert capsys.readouterr().out == ""
