"""Roles a runbook recorded (``roles.json``) as the stack's desired state, without processes.

Parsing and validation (clear errors naming the file, nothing applied), the overlay on
the stack config's roles, the topology's ``repl-`` links following the primary, the
Pulumi program applying the file (under Pulumi's mocks), and the console note.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from test_aws_mocks import GraphMocks, mocked_pulumi  # the Pulumi mocks (same folder)

from infra.errors import TopologyError
from infra.roles import (
    apply_roles,
    config_roles,
    read_roles,
    roles_note,
    roles_path,
    stack_config_roles,
    write_roles,
)
from infra.settings import REPO_ROOT
from infra.topology import Topology

pytestmark = pytest.mark.unit

EAST_WEST = {"regions": [{"name": "east", "role": "primary"},
                         {"name": "west", "role": "standby", "workers": 1}]}


def _document(path: Path, roles: Any, **extra: Any) -> Path:
    path.write_text(json.dumps({"kind": "chartguard.roles", "stack": "local", "roles": roles,
                                "set_by": "migrate", "set_at": "2026-11-22T03:10:00Z",
                                **extra}))
    return path


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    path = roles_path(tmp_path / "local")
    written = write_roles(path, {"east": "standby", "west": "primary"}, stack="local",
                          set_by="migrate", at=1795316400.0)
    assert written.set_at == "2026-11-22T03:00:00Z"
    read = read_roles(path, stack="local")
    assert read is not None and read.primary == "west" and read.set_by == "migrate"
    assert read.roles == {"east": "standby", "west": "primary"}
    assert not list(path.parent.glob(".roles-*"))  # no temporary file left behind


def test_no_file_means_no_roles(tmp_path: Path) -> None:
    assert read_roles(tmp_path / "roles.json") is None
    assert apply_roles(EAST_WEST, None) == EAST_WEST


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["east"]', "not a roles document"),
        ('{"kind": "something.else"}', "not a roles document"),
    ],
)
def test_bad_documents_are_refused_naming_the_file(tmp_path: Path, content: str,
                                                    message: str) -> None:
    path = tmp_path / "roles.json"
    path.write_text(content)
    with pytest.raises(TopologyError, match=message) as caught:
        read_roles(path)
    assert str(path) in str(caught.value) and "nothing changed" in str(caught.value)


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"east": "primary", "west": "primary"},
         r"exactly one region must be primary, got \['east', 'west'\]"),
        ({"east": "standby", "west": "standby"}, "exactly one region must be primary, got none"),
        ({"east": "leader", "west": "primary"}, "region 'east': role must be one of"),
        ({}, "'roles' must map region names"),
        (["west"], "'roles' must map region names"),
    ],
)
def test_roles_need_exactly_one_primary_and_known_roles(tmp_path: Path, roles: Any,
                                                        message: str) -> None:
    path = _document(tmp_path / "roles.json", roles)
    with pytest.raises(TopologyError, match=message) as caught:
        read_roles(path)
    assert str(path) in str(caught.value)
    # The writer refuses the same documents, and writes nothing.
    if isinstance(roles, dict):
        target = tmp_path / "new" / "roles.json"
        with pytest.raises(TopologyError, match=message):
            write_roles(target, roles, stack="local", set_by="migrate")
        assert not target.exists()


def test_a_document_of_another_stack_is_refused(tmp_path: Path) -> None:
    path = _document(tmp_path / "roles.json", {"west": "primary"})
    with pytest.raises(TopologyError, match="written for stack 'local', not 'staging'"):
        read_roles(path, stack="staging")


def test_roles_apply_over_the_config_and_nothing_else(tmp_path: Path) -> None:
    assignment = read_roles(_document(tmp_path / "roles.json",
                                      {"east": "standby", "west": "primary"}))
    applied = apply_roles(EAST_WEST, assignment)
    assert applied["regions"] == [{"name": "east", "role": "standby"},
                                  {"name": "west", "role": "primary", "workers": 1}]
    assert EAST_WEST["regions"][0]["role"] == "primary"  # the config itself is untouched
    topology = Topology.from_config(applied)
    assert topology.primary.name == "west" and topology.region("west").workers == 1
    # Absent regions key: the default config's regions; bare names work too.
    assert config_roles(apply_roles({}, assignment)) == {"east": "standby", "west": "primary"}
    assert config_roles(apply_roles({"regions": ["east", "west"]}, assignment)) == {
        "east": "standby", "west": "primary"}


def test_a_region_only_the_file_names_is_refused_naming_the_file(tmp_path: Path) -> None:
    assignment = read_roles(_document(tmp_path / "roles.json", {"north": "primary"}))
    with pytest.raises(TopologyError, match="region 'north' is not in the stack config") as e:
        apply_roles(EAST_WEST, assignment)
    assert str(tmp_path / "roles.json") in str(e.value)


def test_a_region_the_file_does_not_name_becomes_a_standby(tmp_path: Path) -> None:
    three = {"regions": ["east", "west", "south"]}
    assignment = read_roles(_document(tmp_path / "roles.json", {"west": "primary"}))
    assert config_roles(apply_roles(three, assignment)) == {
        "east": "standby", "west": "primary", "south": "standby"}


def test_repl_links_follow_the_primary() -> None:
    topology = Topology.from_config({"regions": ["east", "west", "south"]})
    moved = topology.with_roles({"east": "standby", "west": "primary"})
    repl = {ln.name: (ln.listen.address, ln.upstream.address)
            for ln in moved.links if ln.kind == "repl"}
    assert repl == {"repl-east": ("127.0.1.1:25432", "127.0.2.1:5432"),
                    "repl-south": ("127.0.3.1:25432", "127.0.2.1:5432")}
    with pytest.raises(TopologyError, match="exactly one region must be primary"):
        topology.with_roles({"west": "primary"})  # east stays primary too
    with pytest.raises(TopologyError, match="no region named 'north'"):
        topology.with_roles({"north": "primary"})


def test_note_says_who_set_the_roles_and_what_the_config_says(tmp_path: Path) -> None:
    assignment = read_roles(_document(tmp_path / "roles.json",
                                      {"east": "standby", "west": "primary"}))
    assert assignment is not None
    note = roles_note(assignment, {"east": "primary", "west": "standby"})
    assert note.startswith("roles set by migrate at 2026-11-22T03:10:00Z (west primary")
    assert note.endswith("stack config says east primary")
    assert roles_note(assignment, {"west": "primary"}).endswith("the stack config agrees")
    # The repo's own stack file says east is primary.
    assert stack_config_roles(REPO_ROOT, "local") == {"east": "primary", "west": "standby"}
    assert stack_config_roles(tmp_path, "nothing-here") == {"east": "primary",
                                                            "west": "standby"}


@pytest.fixture()
def mocks() -> Iterator[GraphMocks]:
    with mocked_pulumi(GraphMocks(), stack="local") as graph:
        yield graph


def _run_program() -> None:
    import runpy

    pulumi.runtime.set_all_config(
        {"chartguard:regions": json.dumps(EAST_WEST["regions"]),
         "chartguard:portOffset": "300"}, [])

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(REPO_ROOT / "infra" / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(None)

    program()


def test_the_program_applies_the_roles_file_over_the_config(
    mocks: GraphMocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    write_roles(roles_path(tmp_path / "local"), {"east": "standby", "west": "primary"},
                stack="local", set_by="migrate")
    _run_program()
    by_name = {r.name: r.inputs for r in mocks.resources}
    assert by_name["postgres-west"]["role"] == "primary"
    assert by_name["postgres-west"]["sync_standbys"] == ["east"]
    assert by_name["postgres-east"]["role"] == "standby"
    assert (by_name["postgres-east"]["upstream_host"],
            by_name["postgres-east"]["upstream_port"]) == ("127.0.1.1", 25732)
    assert by_name["link-repl-east"]["upstream_host"] == "127.0.2.1"
    assert "link-repl-west" not in by_name
    servers = {s["name"]: s["backup"] for s in by_name["haproxy"]["servers"]}
    assert servers == {"east": True, "west": False}
    # Router servers and scrape targets keep the config's order whoever is primary.
    assert [s["name"] for s in by_name["haproxy"]["servers"]] == ["east", "west"]
    assert by_name["ehr-west"]["workers"] == 1  # only roles came from the file


def test_the_program_refuses_a_bad_roles_file_before_declaring_anything(
    mocks: GraphMocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    path = roles_path(tmp_path / "local")
    path.parent.mkdir(parents=True)
    _document(path, {"east": "primary", "west": "primary"})
    with pytest.raises(Exception, match="exactly one region must be primary") as caught:
        _run_program()
    assert str(path) in str(caught.value)
    assert not mocks.resources


def _pg_spec(data_dir: Path, role: str = "primary") -> Any:
    from infra.local.postgres import PostgresSpec

    upstream = {"upstream_host": "127.0.0.1", "upstream_port": 25432} if role == "standby" else {}
    return PostgresSpec(name="east", role=role, host="127.0.0.1", port=5432, data_dir=data_dir,
                        log_path=data_dir.parent / "pg.log", replication="async",
                        app_password="test-app-password", replication_password="test-repl-pw",
                        superuser_password="test-super-password", **upstream)


def test_a_stopped_cluster_may_only_take_the_role_its_data_dir_has(tmp_path: Path) -> None:
    from infra.local.errors import InvalidSpecError
    from infra.local.postgres import check_role_change, cluster_role

    data = tmp_path / "east"
    spec = _pg_spec(data)
    with pytest.raises(InvalidSpecError, match="holds no cluster"):
        check_role_change(spec, "standby", running=False)
    data.mkdir()
    (data / "PG_VERSION").write_text("15\n")
    assert cluster_role(spec) == "primary"
    # A former primary (no standby.signal) is never demoted by the stack: a rebuild is.
    with pytest.raises(InvalidSpecError, match=r"role cannot change to standby in place: "
                                               r"the cluster in .* is a primary"):
        check_role_change(spec, "standby", running=False)
    (data / "standby.signal").write_text("")
    assert check_role_change(spec, "standby", running=False) == "standby"
    with pytest.raises(InvalidSpecError, match="is a standby"):
        check_role_change(_pg_spec(data, "standby"), "primary", running=False)


def test_only_a_live_process_of_the_named_program_is_adopted(tmp_path: Path) -> None:
    from infra.local.postgres import postmaster_pid
    from infra.local.provider import live_process

    me = os.getpid()
    comm = Path(f"/proc/{me}/comm").read_text().strip()
    handle = live_process(me, command=comm)
    assert handle is not None and handle.pid == me
    assert live_process(me, command="postgres") is None  # a recycled pid is not adopted
    assert live_process(None, command=comm) is None
    data = tmp_path / "east"
    data.mkdir()
    spec = _pg_spec(data)
    assert postmaster_pid(spec) is None
    (data / "postmaster.pid").write_text(f"{me}\n{data}\n")
    assert postmaster_pid(spec) == me
    (data / "postmaster.pid").write_text(f"{me}\n/somewhere/else\n")
    assert postmaster_pid(spec) is None  # a copied data dir's file names another server


def test_a_router_is_kept_only_if_it_started_after_its_config_was_written(
    tmp_path: Path,
) -> None:
    from infra.local.haproxy import RouterServer, RouterSpec, render_config
    from infra.local.provider import live_process
    from infra.local.providers import _serves_config_of

    spec = RouterSpec(servers=(RouterServer(name="east", host="127.0.1.1", port=18000,
                                            backup=True),
                               RouterServer(name="west", host="127.0.2.1", port=18000)),
                      config_path=tmp_path / "haproxy.cfg", socket_path=tmp_path / "h.sock",
                      log_path=tmp_path / "haproxy.log")
    me = os.getpid()
    process = live_process(me, command=Path(f"/proc/{me}/comm").read_text().strip())
    assert process is not None
    assert not _serves_config_of(spec, process)  # no config file at all
    spec.config_path.write_text(render_config(spec))
    # Written after this process started: a reload whose new process never came up.
    assert not _serves_config_of(spec, process)
    os.utime(spec.config_path, (0, 0))
    assert _serves_config_of(spec, process)  # the process runs what the file says
    spec.config_path.write_text(render_config(spec).replace("backup", ""))
    os.utime(spec.config_path, (0, 0))
    assert not _serves_config_of(spec, process)  # another configuration


def test_status_says_who_set_the_roles_and_warns_on_a_bad_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from click.testing import CliRunner

    from runbooks.cli import main

    with socket.socket() as sock:  # a port nobody listens on: every probe fails fast
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = tmp_path / "local" / "deployment.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"regions": [
        {"name": n, "role": r, "address": "127.0.0.1", "ehr_url": url, "pids": {}}
        for n, r in (("east", "standby"), ("west", "primary"))], "links": [], "router": url}))
    monkeypatch.setenv("CHARTGUARD_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CHARTGUARD_PROJECT_DIR", str(REPO_ROOT))
    write_roles(roles_path(tmp_path / "local"), {"east": "standby", "west": "primary"},
                stack="local", set_by="migrate")
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 1  # nothing answers
    said = " ".join(result.output.split())
    assert "roles set by migrate at" in said and "stack config says east primary" in said
    roles_path(tmp_path / "local").write_text("{")
    result = CliRunner().invoke(main, ["status"])
    said = " ".join(result.output.split())
    assert "warning:" in said and "not valid JSON" in said and "postgres" in said
