"""Scenario validation: every problem named by its field; the library validates and plans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos.errors import ScenarioError
from chaos.library import find_scenario, library_paths
from chaos.plan import build_plan
from chaos.scenario import load_scenario, parse_scenario
from chaos.toxics import TOXIC_TYPES, to_server_toxic

pytestmark = pytest.mark.unit

LIBRARY = {
    "bgp-brownout",
    "replication-partition",
    "db-link-flap",
    "region-blackout",
    "half-open",
    "bandwidth-squeeze",
}


def valid() -> dict[str, Any]:
    return {
        "title": "t",
        "description": "d",
        "models": "m",
        "duration": 10,
        "hypothesis": {
            "title": "h",
            "probes": [{"name": "edge", "type": "http", "url": "${router}/readyz"}],
        },
        "method": [
            {
                "at": 0,
                "action": "add_toxic",
                "links": "edge-*",
                "toxic": {"name": "slow", "type": "latency", "attributes": {"latency": 10}},
            },
            {"at": 5, "action": "remove_toxic", "links": "edge-*", "toxic": "slow"},
        ],
    }


def problems(data: Any) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, name="x", source="x.yaml")
    return info.value.problems


def test_valid_scenario_parses():
    s = parse_scenario(valid(), name="x")
    assert s.name == "x" and [i for i, _ in s.timeline()] == [0, 1]


def test_bad_attribute_names_the_field():
    data = valid()
    data["method"].insert(1, {"action": "disable_link", "links": "db-east"})
    data["method"].insert(
        2,
        {
            "at": 1,
            "action": "add_toxic",
            "links": "edge-east",
            "toxic": {"name": "x", "type": "latency", "attributes": {"latency": -1}},
        },
    )
    assert problems(data) == ["method[2].toxic.attributes.latency: must be an integer >= 0"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("models"), "models: is required"),
        (lambda d: d.update(extra=1), "extra: is not a known field"),
        (lambda d: d.update(duration=0), "duration: must be > 0"),
        (
            lambda d: d["method"][0].update(action="explode"),
            "method[0].action: 'explode' is unknown",
        ),
        (lambda d: d["method"][0].update(at=-1), "method[0].at: must be >= 0"),
        (lambda d: d["method"][0].update(at=11), "method[0].at: 11 is after the duration 10"),
        (lambda d: d["method"][0]["toxic"].update(type="flood"), "method[0].toxic.type: unknown"),
        (
            lambda d: d["method"][0]["toxic"].update(toxicity=1.5),
            "method[0].toxic.toxicity: must be <= 1",
        ),
        (
            lambda d: d["method"][0]["toxic"].update(stream="sideways"),
            "method[0].toxic.stream: must be 'upstream' or 'downstream'",
        ),
        (
            lambda d: d["method"][0]["toxic"]["attributes"].update(speed=3),
            "method[0].toxic.attributes.speed: not an attribute of latency",
        ),
        (
            lambda d: d["method"][0]["toxic"]["attributes"].update(latency=1.5),
            "method[0].toxic.attributes.latency: must be an integer >= 0",
        ),
        (
            lambda d: d["method"][0]["toxic"]["attributes"].update(latency=True),
            "method[0].toxic.attributes.latency: must be an integer >= 0",
        ),
        (
            lambda d: d["method"][1].update(toxic="other"),
            "method[1].toxic: no add_toxic step adds 'other'",
        ),
        (
            lambda d: d["method"][1].update(at=0) or d["method"][0].update(at=3),
            "method[1].at: removes 'slow' before it is added",
        ),
        (
            lambda d: d["method"].append(dict(d["method"][0])),
            "method[2].toxic.name: 'slow' is added twice",
        ),
        (
            lambda d: d["hypothesis"]["probes"].append(
                {"name": "edge", "type": "http", "url": "u"}
            ),
            "hypothesis.probes[1].name: 'edge' is used twice",
        ),
        (
            lambda d: d["hypothesis"]["probes"].append(
                {"name": "p", "type": "prometheus", "query": "up"}
            ),
            "hypothesis.probes[1]: a prometheus probe needs min or max",
        ),
        (
            lambda d: d["hypothesis"]["probes"].append(
                {"name": "p", "type": "prometheus", "max": 1,
                 "query": "max(chartguard_replication_lag_seconds) or vector(0)"}
            ),
            "hypothesis.probes[1].query: must not fall back to a constant",
        ),
        (
            lambda d: d["hypothesis"]["probes"].append(
                {"name": "p", "type": "prometheus", "max": 1,
                 "query": "sum(up) OR on() scalar(1)"}
            ),
            "hypothesis.probes[1].query: must not fall back to a constant",
        ),
        (
            lambda d: d["hypothesis"]["probes"][0].update(type="ping"),
            "hypothesis.probes[0].type: 'ping' is unknown",
        ),
        (lambda d: d.update(method=[]), "method: needs at least 1 item"),
        (lambda d: d["method"][0].pop("action"), "method[0].action: is required"),
        (
            lambda d: d.update(rollbacks=[{"action": "disable_link", "links": "x"}]),
            "rollbacks[0].action: 'disable_link' is unknown",
        ),
        (
            lambda d: d["method"].append(
                {"action": "stop_process", "region": "west", "mode": "pause"}
            ),
            "method[2].mode: must be 'freeze' or 'kill'",
        ),
    ],
)
def test_each_problem_names_its_field(mutate, expected):
    data = valid()
    mutate(data)
    found = problems(data)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once():
    data = valid()
    data.pop("title")
    data["duration"] = -1
    assert len(problems(data)) == 2


def test_top_level_must_be_a_mapping_and_name_comes_from_the_file():
    assert problems(["a"]) == ["(top level): must be a mapping of fields"]
    assert problems({**valid(), "name": "n"})[0].startswith("name:")


def test_yaml_errors_name_the_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("title: a\nmethod: [\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: line \d+: not valid YAML"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


def test_library_holds_the_named_scenarios_and_all_validate_and_plan():
    names = {p.stem for p in library_paths()}
    assert LIBRARY <= names
    for name in names:
        scenario = find_scenario(name)
        assert scenario.models.strip() and scenario.description.strip()
        plan = build_plan(scenario, time_scale=100)
        assert plan.duration_s == pytest.approx(scenario.duration * 0.01)
        assert all(step.at_s <= plan.duration_s for step in plan.steps)
        assert plan.lines()[-1 - len(plan.rollbacks)].endswith("roll back every fault left")


def test_library_scenarios_model_what_the_issue_asks():
    bgp = find_scenario("bgp-brownout")
    added = [s for s in bgp.method if s.action == "add_toxic"]
    assert {s.toxic.type for s in added} >= {"latency", "packet_loss", "reset_peer"}
    assert all(s.links == "edge-*" and abs(s.toxic.toxicity - 0.33) < 0.01 for s in added)
    latency = next(s for s in added if s.toxic.type == "latency")
    assert latency.toxic.attributes["jitter"] > 0
    assert max(s.at for s in bgp.method) == bgp.duration  # for the whole run
    partition = find_scenario("replication-partition")
    cut = {s.action: s for s in partition.method}
    assert cut["disable_link"].links == "repl-west"
    assert cut["enable_link"].at - cut["disable_link"].at == 60
    half_open = {s.toxic.type for s in find_scenario("half-open").method if s.action == "add_toxic"}
    assert half_open == {"slow_close", "timeout"}


def test_unknown_library_name_lists_the_library():
    with pytest.raises(ScenarioError, match="bgp-brownout"):
        find_scenario("no-such-thing")


def test_packet_loss_becomes_a_timeout_on_a_share_of_connections():
    toxic = to_server_toxic(
        name="loss",
        type="packet_loss",
        stream="downstream",
        toxicity=0.5,
        attributes={"probability": 0.2},
    )
    assert toxic.as_json() == {
        "name": "loss",
        "type": "timeout",
        "stream": "downstream",
        "toxicity": 0.1,
        "attributes": {"timeout": 0},
    }


def test_catalogue_defaults_fill_missing_attributes():
    toxic = to_server_toxic(
        name="s", type="slicer", stream="upstream", toxicity=1, attributes={"delay": 5}
    )
    assert toxic.attributes == {"average_size": 1, "size_variation": 0, "delay": 5}
    assert set(TOXIC_TYPES) == {
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "packet_loss",
    }


def test_scenarios_round_trip_through_yaml(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(valid()))
    assert load_scenario(path).name == "mine"
