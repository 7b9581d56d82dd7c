"""From topology to process specs (pure: nothing is started)."""

from pathlib import Path

import pytest

from infra.local.codec import from_props, to_props
from infra.local.haproxy import RouterSpec, render_config
from infra.local.plan import plan
from infra.local.postgres import PostgresSpec
from infra.local.prometheus import PrometheusSpec
from infra.local.prometheus import render_config as render_prometheus
from infra.local.settings import LocalSettings
from infra.topology import DEFAULT_CONFIG, Topology

pytestmark = pytest.mark.unit


def settings(tmp_path: Path) -> LocalSettings:
    return LocalSettings(state_dir=tmp_path / "state")


def three_regions() -> Topology:
    config = {**DEFAULT_CONFIG, "regions": [
        {"name": "east", "role": "primary"}, {"name": "west", "role": "standby"},
        {"name": "south", "role": "standby", "workers": 1}]}
    return Topology.from_config(config, stack="local")


def test_default_topology_follows_the_interface_contract(tmp_path):
    p = plan(Topology.from_config({}, stack="local"), settings=settings(tmp_path))
    east, west = p.databases
    assert (east.name, east.role, east.host, east.port) == ("east", "primary", "127.0.1.1", 5432)
    assert east.sync_standbys == ("west",) and east.replication == "sync"
    # The standby replicates through its repl link, which forwards to the primary.
    assert (west.role, west.host, west.upstream_host, west.upstream_port) == (
        "standby", "127.0.2.1", "127.0.2.1", 25432)
    repl = next(link for link in p.links if link.name == "repl-west")
    assert (repl.upstream_host, repl.upstream_port) == ("127.0.1.1", 5432)
    assert sorted(link.name for link in p.links) == [
        "db-east", "db-west", "edge-east", "edge-west", "repl-west"]

    ehr_east, ehr_west = p.ehrs
    assert ehr_east.db_url.endswith("@127.0.1.1:15432/chartguard")  # via db-east
    assert (ehr_west.role, ehr_west.host, ehr_west.port) == ("standby", "127.0.2.1", 8000)
    assert ehr_east.status_url == "http://127.0.0.1:8090"

    assert [(s.name, s.host, s.port, s.backup) for s in p.router.servers] == [
        ("east", "127.0.1.1", 18000, False), ("west", "127.0.2.1", 18000, True)]
    assert p.router.socket_path == tmp_path / "state" / "local" / "haproxy.sock"
    cfg = render_config(p.router)
    assert "frontend fe_ehr" in cfg and "backend be_ehr" in cfg
    assert "option httpchk GET /readyz" in cfg and "inter 1000ms fall 2 rise 2" in cfg
    assert "bind 127.0.0.1:8405" in cfg and "prometheus-exporter" in cfg

    jobs = {job.name: job for job in p.prometheus.jobs}
    assert jobs["ehr"].targets == ("127.0.1.1:8000", "127.0.2.1:8000")
    assert dict(jobs["ehr"].labels) == {"127.0.1.1:8000": "east", "127.0.2.1:8000": "west"}
    assert jobs["router"].targets == ("127.0.0.1:8405",)
    prom = render_prometheus(p.prometheus)
    assert str(tmp_path / "state" / "local" / "prometheus" / "rules" / "*.yml") in prom
    assert p.alertmanager.webhook_url == "http://127.0.0.1:8090/api/v1/alerts/webhook"
    assert p.dsns["west"].endswith("@127.0.2.1:5432/chartguard")


def test_three_regions_use_quorum_commit_and_two_backups(tmp_path):
    p = plan(three_regions(), settings=settings(tmp_path))
    assert p.databases[0].sync_standbys == ("west", "south")
    assert [s.backup for s in p.router.servers] == [False, True, True]
    assert p.ehrs[2].workers == 1


def test_port_offset_moves_every_port_but_not_the_addresses(tmp_path):
    p = plan(Topology.from_config({}, stack="t").with_port_offset(1000),
             settings=settings(tmp_path))
    assert p.databases[0].port == 6432 and p.databases[1].upstream_port == 26432
    assert p.router.port == 9080 and p.toxiproxy.port == 9474
    assert p.prometheus.port == 10090 and p.alertmanager.port == 10093
    assert p.stack_dir == tmp_path / "state" / "t"


def test_single_region_commits_locally(tmp_path):
    topo = Topology.from_config({"regions": [{"name": "east", "role": "primary"}]})
    p = plan(topo, settings=settings(tmp_path))
    assert p.databases[0].replication == "async" and len(p.router.servers) == 1


def test_specs_survive_the_trip_through_pulumi_properties(tmp_path):
    import json

    p = plan(three_regions(), settings=settings(tmp_path))
    for spec, cls in ((p.databases[1], PostgresSpec), (p.router, RouterSpec),
                      (p.prometheus, PrometheusSpec)):
        # Pulumi hands numbers back as floats.
        props = json.loads(json.dumps(to_props(spec)),
                           parse_int=float)  # type: ignore[arg-type]
        assert from_props(cls, props) == spec
