"""The topology model: defaults per docs/interfaces.md, validation naming the field."""

from __future__ import annotations

import json

import pytest

from infra.errors import TopologyError
from infra.topology import Topology

pytestmark = pytest.mark.unit


def test_default_topology_matches_the_interfaces_doc() -> None:
    t = Topology.from_config({})
    assert [(r.name, r.role, r.address) for r in t.regions] == [
        ("east", "primary", "127.0.1.1"),
        ("west", "standby", "127.0.2.1"),
    ]
    assert t.replication == "sync" and t.target == "local"
    assert {link.name: (link.listen.address, link.upstream.address) for link in t.links} == {
        "edge-east": ("127.0.1.1:18000", "127.0.1.1:8000"),
        "db-east": ("127.0.1.1:15432", "127.0.1.1:5432"),
        "edge-west": ("127.0.2.1:18000", "127.0.2.1:8000"),
        "db-west": ("127.0.2.1:15432", "127.0.2.1:5432"),
        "repl-west": ("127.0.2.1:25432", "127.0.1.1:5432"),
    }
    services = {name: ep.address for name, ep in t.services.items()}
    assert services == {
        "router": "127.0.0.1:8080",
        "router_stats": "127.0.0.1:8405",
        "toxiproxy": "127.0.0.1:8474",
        "prometheus": "127.0.0.1:9090",
        "alertmanager": "127.0.0.1:9093",
        "status": "127.0.0.1:8090",
    }
    assert t.primary.name == "east" and [r.name for r in t.standbys] == ["west"]
    assert t.ehr_url("west") == "http://127.0.2.1:18000"


def test_three_regions_with_names_workers_and_async() -> None:
    t = Topology.from_config(
        {
            "replication": "async",
            "workers": 3,
            "regions": ["east", {"name": "west", "workers": 1}, "central"],
        },
        stack="dev",
    )
    assert [(r.name, r.role, r.address, r.workers) for r in t.regions] == [
        ("east", "primary", "127.0.1.1", 3),
        ("west", "standby", "127.0.2.1", 1),
        ("central", "standby", "127.0.3.1", 3),
    ]
    assert t.link("repl-central").upstream.address == "127.0.1.1:5432"
    assert t.stack == "dev" and t.replication == "async"


def test_round_trip_through_config_and_json() -> None:
    t = Topology.from_config({"regions": ["a", "b", "c"], "ports": {"ehr": 8100}})
    again = Topology.from_config(json.loads(json.dumps(t.to_config())), stack=t.stack)
    assert again == t
    data = t.to_dict()
    assert data["ports"]["ehr"] == 8100
    assert [link["name"] for link in data["links"]] == [
        "edge-a", "db-a", "edge-b", "db-b", "edge-c", "db-c", "repl-b", "repl-c",
    ]


def test_port_offset_moves_every_listener() -> None:
    t = Topology.from_config({}).with_port_offset(100)
    assert t.services.router.address == "127.0.0.1:8180"
    assert t.link("db-east").listen.address == "127.0.1.1:15532"
    assert t.link("repl-west").upstream.address == "127.0.1.1:5532"


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"replication": "semi"}, "replication", "sync"),
        ({"target": "gcp"}, "target", "local"),
        ({"regions": []}, "regions", "1 to 3"),
        ({"regions": ["a", "b", "c", "d"]}, "regions", "1 to 3"),
        ({"regions": ["east", "east"]}, "regions[1].name", "duplicate"),
        ({"regions": ["East"]}, "regions[0].name", "lowercase"),
        ({"regions": [{"name": "east", "role": "leader"}]}, "regions[0].role", "primary"),
        ({"regions": [{"name": "a", "role": "standby"}]}, "regions", "exactly one"),
        ({"regions": [{"name": "a", "role": "primary"}, {"name": "b", "role": "primary"}]},
         "regions", "exactly one"),
        ({"regions": [{"name": "a", "role": "primary", "workers": 0}]}, "regions[0].workers",
         "between"),
        ({"workers": "two"}, "regions[0].workers", "integer"),
        ({"regions": [{"role": "primary"}]}, "regions[0].name", "required"),
        ({"regions": [{"name": "a", "role": "primary", "zone": "x"}]}, "regions[0].zone",
         "unknown"),
        ({"regions": [{"name": "a", "role": "primary", "address": "10.0.0.1"}]},
         "regions[0] (ehr)", "127.0.0.0/8"),
        ({"regions": [{"name": "a", "role": "primary", "address": "127.0.0.1"}],
          "ports": {"ehr": 8080}}, "regions[0] (ehr)", "already used"),
        ({"regions": [{"name": "a", "role": "primary", "address": "nope"}]},
         "regions[0].address", "IPv4"),
        ({"ports": {"ehr": 70000}}, "ports.ehr", "65535"),
        ({"ports": {"ehr": 5432}}, "ports", "differ"),
        ({"ports": {"http": 80}}, "ports.http", "unknown"),
        ({"services": {"router": "127.0.0.1"}}, "services.router", "host:port"),
        ({"services": {"router": "127.0.0.1:8474"}}, "services.toxiproxy", "already used"),
        ({"services": {"grafana": "127.0.0.1:3000"}}, "services.grafana", "unknown"),
        ({"regoins": []}, "regoins", "unknown key"),
    ],
)
def test_bad_config_is_refused_naming_the_field(
    config: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(TopologyError) as info:
        Topology.from_config(config)
    assert info.value.field == field
    assert words in str(info.value)
    assert str(info.value).startswith(field)


def test_aws_target_does_not_require_loopback() -> None:
    t = Topology.from_config(
        {"target": "aws", "regions": [{"name": "east", "role": "primary", "address": "10.0.0.1"}]}
    )
    assert t.primary.address == "10.0.0.1"


def test_unknown_region_or_link_lookup_names_it() -> None:
    t = Topology.from_config({})
    with pytest.raises(TopologyError, match="'north'"):
        t.region("north")
    with pytest.raises(TopologyError, match="'repl-east'"):
        t.link("repl-east")
