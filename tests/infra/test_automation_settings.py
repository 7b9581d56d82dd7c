"""The driver's settings and deployment file: passphrase rules, engine env, outputs -> file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from infra.errors import PassphraseError
from infra.outputs import deployment_document, stack_outputs, write_deployment
from infra.settings import LOCAL_DEFAULT_PASSPHRASE, InfraSettings
from infra.topology import Topology

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path, passphrase: str | None = None) -> InfraSettings:
    return InfraSettings(
        state_dir=tmp_path / "state",
        tools_dir=tmp_path / "tools",
        pulumi_passphrase=passphrase,
    )


def test_local_stack_uses_the_documented_default_passphrase(tmp_path: Path) -> None:
    assert _settings(tmp_path).passphrase("local") == LOCAL_DEFAULT_PASSPHRASE
    assert _settings(tmp_path, "mine").passphrase("local") == "mine"


def test_other_stacks_refuse_a_missing_or_default_passphrase(tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match="CHARTGUARD_PULUMI_PASSPHRASE"):
        _settings(tmp_path).passphrase("aws-example")
    with pytest.raises(PassphraseError, match="local default"):
        _settings(tmp_path, LOCAL_DEFAULT_PASSPHRASE).passphrase("aws-example")
    assert _settings(tmp_path, "s3cret-aws").passphrase("aws-example") == "s3cret-aws"


def test_engine_env_keeps_everything_under_the_repo(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    env = s.pulumi_env("local", base={"PATH": "/usr/bin", "PULUMI_ACCESS_TOKEN": "x"})
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'state' / 'pulumi'}"
    assert env["PULUMI_HOME"] == str(tmp_path / "tools" / "pulumi-home")
    assert env["PATH"].split(":")[0] == str(tmp_path / "tools" / "bin")
    assert env["PATH"].endswith(":/usr/bin")
    assert env["PULUMI_CONFIG_PASSPHRASE"] == LOCAL_DEFAULT_PASSPHRASE
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    assert "PULUMI_ACCESS_TOKEN" not in env


def test_deployment_document_follows_the_contract(tmp_path: Path) -> None:
    topology = Topology.from_config({})
    outputs = {
        **json.loads(json.dumps(stack_outputs(topology))),
        "dsns": {"east": "postgresql://u:p@127.0.1.1:15432/db"},
        "pids": {"east": {"ehr": 11, "postgres": 12}},
        "service_pids": {"router": 13},
    }
    doc = deployment_document(outputs, stack="local")
    east, west = doc["regions"]
    assert east == {
        "name": "east",
        "role": "primary",
        "address": "127.0.1.1",
        "ehr_url": "http://127.0.1.1:18000",
        "dsn": "postgresql://u:p@127.0.1.1:15432/db",
        "pids": {"ehr": 11, "postgres": 12},
    }
    assert west["dsn"] is None and west["role"] == "standby"
    assert {"name": "repl-west", "listen": "127.0.2.1:25432", "upstream": "127.0.1.1:5432"} in doc[
        "links"
    ]
    assert doc["router"] == "http://127.0.0.1:8080"
    assert doc["toxiproxy"] == "http://127.0.0.1:8474"
    assert doc["prometheus"] == "http://127.0.0.1:9090"
    assert doc["alertmanager"] == "http://127.0.0.1:9093"

    path = tmp_path / "local" / "deployment.json"
    write_deployment(path, doc)
    assert json.loads(path.read_text()) == doc
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["deployment.json"]
