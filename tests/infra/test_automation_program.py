"""The Pulumi program (``infra/__main__.py``) under Pulumi's own unit-test mocks.

The stack config is turned into the topology and rendered by the configured target:
the aws-example stack's config yields one AWS provider per region with the topology's
region names; missing aws keys are refused naming the key; the local target's outputs
follow the port offset.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from test_aws_mocks import GraphMocks, mocked_pulumi  # the aws target's mocks (same folder)

from infra.errors import TopologyError
from infra.settings import REPO_ROOT
from infra.target import deploy_target
from infra.topology import Topology

pytestmark = pytest.mark.unit


def _stack_config(name: str) -> dict[str, str]:
    """A stack file's config as the engine hands it to a program (JSON for structures)."""
    raw = yaml.safe_load(Path(REPO_ROOT / f"Pulumi.{name}.yaml").read_text())["config"]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


@pytest.fixture()
def mocks() -> Iterator[GraphMocks]:
    with mocked_pulumi(GraphMocks()) as graph:
        yield graph


def _run_program(config: dict[str, str], secret_keys: list[str]) -> None:
    pulumi.runtime.set_all_config(config, secret_keys)

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(REPO_ROOT / "infra" / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(None)

    program()


def test_aws_example_config_renders_one_provider_per_region(mocks: GraphMocks) -> None:
    config = {
        **_stack_config("aws-example"),
        "chartguard:awsZoneId": "ZONE123",
        "chartguard:appHostname": "app.ehr.example",
        "chartguard:dbPassword": "correct-horse-battery",
    }
    _run_program(config, ["chartguard:dbPassword"])
    providers = {p.name: p.inputs["region"] for p in mocks.of_type("pulumi:providers:aws")}
    assert providers == {"aws-east": "us-east-1", "aws-west": "us-west-2"}
    vpcs = mocks.of_type("aws:ec2/vpc:Vpc")
    assert vpcs and all(v.inputs["tags"]["chartguard:replication"] == "async" for v in vpcs)
    assert all(v.inputs["tags"]["chartguard:stack"] == "aws-example" for v in vpcs)


def test_aws_target_without_its_keys_is_refused_naming_them(mocks: GraphMocks) -> None:
    topology = Topology.from_config({"target": "aws"}, stack="aws-example")
    with pytest.raises(TopologyError, match="chartguard:awsRegions"):
        deploy_target(topology, options={})
    with pytest.raises(TopologyError, match="no AWS region for region 'west'"):
        deploy_target(topology, options={"awsRegions": {"east": "us-east-1"}})
    assert not mocks.resources


def test_local_outputs_follow_the_port_offset(mocks: GraphMocks) -> None:
    topology = Topology.from_config({})

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = deploy_target(topology, options={"portOffset": 300})
        assert outputs["router_url"] == "http://127.0.0.1:8380"
        assert outputs["region_urls"] == {
            "east": "http://127.0.1.1:18300", "west": "http://127.0.2.1:18300",
        }
        assert outputs["topology"]["services"]["toxiproxy"] == "127.0.0.1:8774"
        return pulumi.Output.from_input(outputs["dsns"]).apply(
            lambda dsns: assert_dsns(dsns)
        )

    def assert_dsns(dsns: dict[str, str]) -> None:
        assert set(dsns) == {"east", "west"}
        assert dsns["east"].endswith("@127.0.1.1:5732/chartguard")

    program()
    names = {r.name for r in mocks.resources}
    assert {"postgres-east", "postgres-west", "haproxy", "toxiproxy"} <= names


def test_local_stack_runs_the_status_service_and_installs_slo_rules(mocks: GraphMocks) -> None:
    topology = Topology.from_config({})

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        outputs = deploy_target(topology, options={"portOffset": 300, "sloProfile": "compressed"})
        assert outputs["status_url"] == "http://127.0.0.1:8390"
        assert "status" in outputs["service_pids"]
        return pulumi.Output.from_input(None)

    program()
    by_name = {r.name: r for r in mocks.resources}
    assert by_name["slo-rules"].inputs["profile"] == "compressed"
    assert by_name["slo-rules"].inputs["prometheus_url"] == "http://127.0.0.1:9390"
    assert by_name["statuspage"].inputs["port"] == 8390


def test_local_target_refuses_bad_slo_profile_and_default_token_off_local(
    mocks: GraphMocks,
) -> None:
    from infra.local.errors import InvalidSpecError

    with pytest.raises(InvalidSpecError, match="chartguard:sloProfile"):
        deploy_target(Topology.from_config({}), options={"sloProfile": "fast"})
    with pytest.raises(InvalidSpecError, match="set chartguard:statusToken"):
        deploy_target(Topology.from_config({}, stack="staging"), options={})
    assert not mocks.resources
