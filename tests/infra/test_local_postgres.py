"""PostgreSQL primary + streaming standby, against the real Debian binaries."""

import shutil
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from infra.local import postgres as pg
from infra.local.errors import InvalidSpecError
from infra.local.process import is_running, port_is_bound

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SECRETS = {
    "app_password": "test-app-password",
    "replication_password": "test-repl-password",
    "superuser_password": "test-super-password",
}


def make_specs(workdir, free_port, *, replication="sync", upstream=None):
    primary = pg.PostgresSpec(
        name="east", role="primary", host="127.0.0.1", port=free_port("127.0.0.1"),
        data_dir=workdir / "east", log_path=workdir / "logs" / "pg-east.log",
        replication=replication, sync_standbys=("west",), **SECRETS,
    )
    up_host, up_port = upstream or (primary.host, primary.port)
    standby = pg.PostgresSpec(
        name="west", role="standby", host="127.0.0.1", port=free_port("127.0.0.1"),
        data_dir=workdir / "west", log_path=workdir / "logs" / "pg-west.log",
        upstream_host=up_host, upstream_port=up_port, **SECRETS,
    )
    return primary, standby


def wait_for_row(spec, value, timeout=10.0, table="t"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(pg.app_dsn(spec), autocommit=True) as conn:
            try:
                if conn.execute(f"SELECT 1 FROM {table} WHERE x = %s", (value,)).fetchone():
                    return True
            except psycopg.errors.UndefinedTable:
                pass  # the standby has not replayed the CREATE TABLE yet
        time.sleep(0.1)
    return False


class Pair:
    """A primary and its standby, shared by the tests of this module (each its own table)."""

    def __init__(self, primary, p_state, standby, s_state):
        self.primary, self.p_state = primary, p_state
        self.standby, self.s_state = standby, s_state

    def execute(self, sql):
        with psycopg.connect(pg.app_dsn(self.primary), autocommit=True,
                             options="-c statement_timeout=30000") as conn:
            conn.execute(sql)


@pytest.fixture(scope="module")
def pair():
    # Module scope: creating a pair costs seconds; every test leaves it as it found it.
    workdir = Path(tempfile.mkdtemp(prefix="cg-local-pair-"))
    workdir.chmod(0o755)
    ports = iter(socket_ports(2))
    made = []
    try:
        primary, standby = make_specs(workdir, lambda _host: next(ports))
        made.append((pg.create(primary), primary))
        made.append((pg.create(standby), standby))
        shared = Pair(primary, made[0][0], standby, made[1][0])
        yield shared
        made = [(shared.p_state, primary), (shared.s_state, standby)]
    finally:
        for state, spec in reversed(made):
            pg.destroy(state, spec.data_dir)
        shutil.rmtree(workdir, ignore_errors=True)


def socket_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_row_written_on_primary_appears_on_hot_standby(pair):
    assert pg.status(pair.primary, pair.p_state) == pg.PostgresStatus(True, True, False)
    assert pg.status(pair.standby, pair.s_state) == pg.PostgresStatus(True, True, True)
    pair.execute("CREATE TABLE t1 (x int)")
    pair.execute("INSERT INTO t1 VALUES (42)")
    # remote_apply: the commit returned only after the standby applied it.
    with psycopg.connect(pg.app_dsn(pair.standby), autocommit=True) as conn:
        assert conn.execute("SELECT x FROM t1").fetchall() == [(42,)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO t1 VALUES (1)")
    with pg.connect(pair.primary) as conn:
        rows = conn.execute("SELECT application_name, sync_state FROM pg_stat_replication")
        assert rows.fetchall() == [("west", "sync")]


def test_sync_commit_waits_for_the_standby_and_loses_nothing(pair):
    pair.execute("CREATE TABLE t2 (x int)")
    pg.stop_server(pair.s_state)
    done = threading.Event()
    errors: list[BaseException] = []

    def write():
        try:
            # statement_timeout bounds the wait should the test itself break.
            pair.execute("INSERT INTO t2 VALUES (7)")
        except BaseException as e:  # reported by the assertion below
            errors.append(e)
        finally:
            done.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        assert not done.wait(2.0), "commit returned although no standby confirmed it"
    finally:
        pair.s_state = pg.start(pair.standby)
    assert done.wait(20.0), "commit still blocked after the standby came back"
    writer.join(5)
    assert errors == []
    assert wait_for_row(pair.standby, 7, timeout=1.0, table="t2")


def test_async_mode_commits_without_the_standby(pair):
    async_primary = replace(pair.primary, replication="async")
    pair.p_state = pg.reconfigure(pair.primary, async_primary, pair.p_state)
    pg.stop_server(pair.s_state)
    try:
        started = time.monotonic()
        pair.execute("CREATE TABLE t3 (x int)")
        pair.execute("INSERT INTO t3 VALUES (1)")
        assert time.monotonic() - started < 3.0
    finally:
        pair.s_state = pg.start(pair.standby)
        pair.p_state = pg.reconfigure(async_primary, pair.primary, pair.p_state)
    assert wait_for_row(pair.standby, 1, table="t3")


def test_destroy_leaves_no_process_port_or_data_dir(workdir, free_port):
    primary, _ = make_specs(workdir, free_port, replication="async")
    state = pg.create(primary)
    try:
        assert port_is_bound(primary.host, primary.port)
    finally:
        pg.destroy(state, primary.data_dir)
    assert not is_running(state.process)
    assert not port_is_bound(primary.host, primary.port)
    assert not primary.data_dir.exists()
    assert pg.status(primary, state).running is False


@pytest.mark.unit
def test_bad_specs_are_refused_with_the_field_named(workdir):
    base = {"name": "east", "role": "primary", "host": "127.0.0.1", "port": 5432,
            "data_dir": workdir / "d", "log_path": workdir / "l", "sync_standbys": ("west",),
            **SECRETS}
    pg.PostgresSpec(**base)
    for change, message in (
        ({"host": "192.168.1.5"}, "outside loopback"),
        ({"role": "leader"}, "role"),
        ({"replication": "semi"}, "replication"),
        ({"app_password": "short"}, "app_password"),
        ({"sync_standbys": ()}, "sync replication needs"),
        ({"role": "standby"}, "upstream"),
        ({"app_database": "Robert'); DROP"}, "identifier"),
    ):
        with pytest.raises(InvalidSpecError, match=message):
            pg.PostgresSpec(**{**base, **change})
    assert not (workdir / "d").exists()


@pytest.mark.unit
def test_a_foreign_non_empty_dir_is_never_wiped(workdir):
    data = workdir / "d"
    data.mkdir()
    (data / "precious.txt").write_text("keep me")
    spec = pg.PostgresSpec(name="east", role="primary", host="127.0.0.1", port=1,
                           data_dir=data, log_path=workdir / "l", replication="async", **SECRETS)
    with pytest.raises(InvalidSpecError, match="not a PostgreSQL cluster"):
        pg.create(spec)
    assert (data / "precious.txt").read_text() == "keep me"


def test_standby_streams_through_a_toxiproxy_link_and_a_cut_link_blocks_sync_commits(
    workdir, free_port, reaper, toxiproxy_server
):
    from infra.local.toxiproxy import ProxySpec, create_link

    toxi_spec, admin, _ = toxiproxy_server
    primary, _ = make_specs(workdir, free_port)
    p_state = pg.create(primary)
    reaper.on_teardown(lambda: pg.destroy(p_state, primary.data_dir))
    link = ProxySpec(name="repl-west", listen_host="127.0.0.1", listen_port=free_port("127.0.0.1"),
                     upstream_host=primary.host, upstream_port=primary.port)
    create_link(toxi_spec.api_url, link)
    _, standby = make_specs(workdir, free_port, upstream=(link.listen_host, link.listen_port))
    s_state = pg.create(standby)
    reaper.on_teardown(lambda: pg.destroy(s_state, standby.data_dir))
    # The standby's walreceiver connects through Toxiproxy (its listen address). Its
    # walsender counts as sync once it has caught up, which can trail the standby's own
    # "streaming" on a busy machine: poll for it.
    deadline = time.monotonic() + 15
    while True:
        with pg.connect(primary) as conn:
            rows = conn.execute(
                "SELECT application_name, sync_state FROM pg_stat_replication").fetchall()
        if rows == [("west", "sync")] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert rows == [("west", "sync")]
    with psycopg.connect(pg.app_dsn(primary), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    assert wait_for_row(standby, 1, timeout=1.0)

    admin.set_enabled(link.name, False)
    done = threading.Event()
    errors: list[BaseException] = []

    def write():
        try:
            with psycopg.connect(pg.app_dsn(primary), autocommit=True,
                                 options="-c statement_timeout=30000") as conn:
                conn.execute("INSERT INTO t VALUES (2)")
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        assert not done.wait(3.0), "commit acknowledged while the replication link was cut"
    finally:
        admin.set_enabled(link.name, True)
    assert done.wait(20.0), "commit still blocked after the link came back"
    writer.join(5)
    assert errors == []
    assert wait_for_row(standby, 2, timeout=1.0)
