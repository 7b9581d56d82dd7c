"""The dynamic providers' CRUD methods, called directly against real processes.

(The Pulumi engine drives the same methods in the stack test; here each contract is
checked in isolation: diff compares inputs only, read notices a dead process, update
restarts it, delete leaves nothing behind, a data-destroying change is refused.)
"""

import json
import os
import signal
import time

import pytest

from infra.local import postgres
from infra.local.codec import to_props
from infra.local.errors import InvalidSpecError
from infra.local.process import ProcessHandle, is_running, port_is_bound
from infra.local.providers import PostgresProvider, ToxiproxyLinkProvider, ToxiproxyServerProvider
from infra.local.toxiproxy import LinkSpec, ToxiproxySpec, client

pytestmark = pytest.mark.integration


def as_pulumi(props):
    """What the engine hands a provider: JSON values, every number a float."""
    return json.loads(json.dumps(props), parse_int=float)


def kill(outs):
    """SIGKILL the resource's process and wait until the kernel has it dead."""
    handle = ProcessHandle(pid=int(outs["pid"]), start_time=int(outs["start_time"]))
    os.kill(handle.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_running(handle) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_toxiproxy_server_and_link_lifecycle(workdir, free_port, toxiproxy_bin, reaper):
    server = ToxiproxyServerProvider()
    spec = ToxiproxySpec(log_path=workdir / "tp.log", port=free_port("127.0.0.1"),
                         binary=toxiproxy_bin)
    inputs = as_pulumi(to_props(spec))
    created = server.create(inputs)
    outs = as_pulumi(created.outs)
    reaper.on_teardown(lambda: server.delete(created.id, outs))
    assert outs["running"] is True and outs["pid"] > 0

    # up twice: same inputs, no change (pids are outputs, never compared)
    assert server.diff(created.id, outs, inputs).changes is False
    assert server.read(created.id, outs).outs["running"] is True

    links = ToxiproxyLinkProvider()
    link = LinkSpec(api_url=spec.api_url, name="db-east", listen_host="127.0.0.1",
                    listen_port=free_port("127.0.0.1"), upstream_host="127.0.1.1",
                    upstream_port=5432)
    link_in = {**as_pulumi(to_props(link)), "server_pid": outs["pid"]}
    link_made = links.create(link_in)
    link_outs = as_pulumi(link_made.outs)
    assert link_made.id == "db-east" and port_is_bound("127.0.0.1", link.listen_port)
    assert links.diff("db-east", link_outs, link_in).changes is False
    moved = {**link_in, "upstream_port": 6543.0}
    assert links.diff("db-east", link_outs, moved).changes is True
    links.update("db-east", link_outs, moved)
    assert client(spec.api_url).proxy("db-east").upstream == "127.0.1.1:6543"

    # refresh notices a killed server; the next up restarts it (and its links come back)
    kill(outs)
    refreshed = as_pulumi(server.read(created.id, outs).outs)
    assert refreshed["running"] is False
    assert links.read("db-east", link_outs).outs["running"] is False
    assert server.diff(created.id, refreshed, inputs).changes is True
    restarted = as_pulumi(server.update(created.id, refreshed, inputs).outs)
    outs = restarted
    reaper.on_teardown(lambda: server.delete(created.id, restarted))
    assert restarted["pid"] != refreshed["pid"] and restarted["running"] is True
    # The new server pid is a new input of every link: the next up recreates them.
    relinked = {**link_in, "server_pid": restarted["pid"]}
    assert links.diff("db-east", link_outs, relinked).changes is True
    links.update("db-east", link_outs, relinked)
    assert links.read("db-east", link_outs).outs["running"] is True

    links.delete("db-east", link_outs)
    assert not port_is_bound("127.0.0.1", link.listen_port)
    server.delete(created.id, restarted)
    assert not port_is_bound(spec.host, spec.port)
    links.delete("db-east", link_outs)  # the server is gone, and the proxy with it


@pytest.mark.postgres
def test_postgres_provider_restarts_a_killed_server_and_keeps_its_data(
    workdir, free_port, reaper
):
    provider = PostgresProvider()
    spec = postgres.PostgresSpec(
        name="east", role="primary", host="127.0.0.1", port=free_port("127.0.0.1"),
        data_dir=workdir / "east", log_path=workdir / "pg.log", replication="async",
        app_password="test-app-password", replication_password="test-repl-password",
        superuser_password="test-super-password")
    inputs = as_pulumi(to_props(spec))
    created = provider.create(inputs)
    outs = as_pulumi(created.outs)
    reaper.on_teardown(lambda: provider.delete(created.id, outs))
    with postgres.connect(spec, dbname="chartguard") as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (1)")

    with pytest.raises(InvalidSpecError, match="role"):
        provider.diff(created.id, outs, {**inputs, "role": "standby"})
    reload_only = {**inputs, "replication": "async", "port": inputs["port"]}
    assert provider.diff(created.id, outs, reload_only).changes is False

    kill(outs)
    refreshed = as_pulumi(provider.read(created.id, outs).outs)
    assert refreshed["running"] is False
    outs = as_pulumi(provider.update(created.id, refreshed, inputs).outs)
    with postgres.connect(spec, dbname="chartguard") as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(1,)]

    provider.delete(created.id, outs)
    assert not is_running(provider.handle(outs))
    assert not port_is_bound(spec.host, spec.port)
    assert not spec.data_dir.exists()


@pytest.mark.unit
def test_providers_serialize_by_reference_for_the_engine():
    import base64
    import subprocess
    import sys

    from pulumi.dynamic.dynamic import serialize_provider

    from infra.local import providers

    blobs = []
    for name in providers.__all__:
        blob = serialize_provider(getattr(providers, name)())
        # By reference (module + class name), not by value: small, and the provider
        # process imports today's code from the installed package.
        assert len(base64.b64decode(blob)) < 2000, name
        blobs.append(blob)
    code = ("import base64, sys, dill\n"
            "for b in sys.argv[1:]:\n"
            "    p = dill.loads(base64.b64decode(b)); print(type(p).__module__, type(p).__name__)")
    out = subprocess.run([sys.executable, "-c", code, *blobs], capture_output=True,
                         text=True, check=True, timeout=60).stdout.splitlines()
    assert out == [f"infra.local.providers {name}" for name in providers.__all__]


@pytest.mark.unit
def test_diff_compares_inputs_only_and_check_names_bad_input(tmp_path):
    from infra.local.haproxy import RouterServer, RouterSpec
    from infra.local.providers import RouterProvider

    spec = RouterSpec(servers=(RouterServer(name="east", host="127.0.1.1", port=18000),),
                      config_path=tmp_path / "c", socket_path=tmp_path / "s",
                      log_path=tmp_path / "l")
    news = {**as_pulumi(to_props(spec)), "__provider": "serialized"}
    olds = {**news, "pid": 4242.0, "start_time": 99.0, "running": True}
    provider = RouterProvider()
    assert provider.diff("r", olds, {**news, "pid": None}).changes is False
    assert provider.diff("r", {**olds, "running": False}, news).changes is True
    changed = provider.diff("r", olds, {**news, "port": 9080.0})
    assert (changed.changes, changed.replaces) == (True, [])

    tp = ToxiproxyServerProvider()
    tp_spec = as_pulumi(to_props(ToxiproxySpec(log_path=tmp_path / "t")))
    moved = tp.diff("t", {**tp_spec, "running": True}, {**tp_spec, "port": 9474.0})
    assert moved.replaces == ["port"] and moved.delete_before_replace is True

    failures = provider.check({}, {**news, "host": "10.0.0.8"}).failures
    assert len(failures) == 1 and "outside loopback" in failures[0].reason
    assert provider.check({}, news).failures == []
