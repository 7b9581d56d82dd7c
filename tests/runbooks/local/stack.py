"""A private primary + standby + EHRs + router + replication links, for cutover tests.

Started with infra.local's process managers directly (no Pulumi), on private ports of
127.0.0.1, in a world-searchable temp folder (PostgreSQL runs as ``postgres``).
Everything is stopped, and the folder removed, by :meth:`PrivateStack.close`, which
also sweeps any server the runbooks themselves restarted (found by data dir).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from infra.local import ehr, haproxy, toxiproxy
from infra.local import postgres as pg
from infra.local.process import ProcessHandle, stop
from runbooks.local.cluster import LocalCluster
from runbooks.local.router import RouterControl
from runbooks.local.server import stop_postmaster

TOXIPROXY_BIN = Path(__file__).resolve().parents[3] / ".tools" / "bin" / "toxiproxy-server"
class _Secrets(TypedDict):
    app_password: str
    replication_password: str
    superuser_password: str


SECRETS: _Secrets = {
    "app_password": "test-app-password",
    "replication_password": "test-repl-password",
    "superuser_password": "test-super-password",
}
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivateStack:
    root: Path
    cluster: LocalCluster
    ehr_specs: dict[str, ehr.EhrSpec] = field(default_factory=dict)
    handles: list[ProcessHandle] = field(default_factory=list)

    @property
    def router_url(self) -> str:
        assert self.cluster.router is not None
        return f"http://{self.cluster.router.host}:{self.cluster.router.port}"

    def router_control(self) -> RouterControl:
        assert self.cluster.router is not None
        return RouterControl(self.cluster.router.socket_path)

    def close(self) -> None:
        # Servers the runbooks restarted are not in ``handles``: find them by data dir.
        for spec in self.cluster.databases.values():
            try:
                stop_postmaster(spec, timeout=10)
            except Exception:  # teardown goes on
                pass
        try:
            pid = self.router_control().pid()
            from runbooks.local.server import handle_for_pid

            handle = handle_for_pid(pid)
            if handle is not None:
                stop(handle, timeout=10)
        except Exception:
            pass
        for handle in reversed(self.handles):
            stop(handle, timeout=15)
        shutil.rmtree(self.root, ignore_errors=True)


def start_private_stack(*, replication: str = "sync") -> PrivateStack:
    root = Path(tempfile.mkdtemp(prefix="cg-runbooks-"))
    root.chmod(0o755)
    logs = root / "logs"
    handles: list[ProcessHandle] = []
    stack = PrivateStack(root=root, cluster=LocalCluster(stack="test", replication=replication,
                                                         databases={}, ehr_urls={}),
                         handles=handles)
    try:
        toxi_spec = toxiproxy.ToxiproxySpec(log_path=logs / "toxiproxy.log", port=free_port(),
                                            binary=TOXIPROXY_BIN)
        handles.append(toxiproxy.start(toxi_spec).process)
        repl_listen = {"east": (HOST, free_port()), "west": (HOST, free_port())}
        primary = pg.PostgresSpec(
            name="east", role="primary", host=HOST, port=free_port(),
            data_dir=root / "postgres" / "east", log_path=logs / "pg-east.log",
            replication="sync" if replication == "sync" else "async",
            sync_standbys=("west",) if replication == "sync" else (), **SECRETS)
        handles.append(pg.create(primary).process)
        cluster = LocalCluster(stack="test", replication=replication,
                               databases={"east": primary}, ehr_urls={},
                               toxiproxy_api=toxi_spec.api_url, repl_listen=repl_listen)
        up_host, up_port = cluster.upstream_for("west", "east")
        standby = pg.PostgresSpec(
            name="west", role="standby", host=HOST, port=free_port(),
            data_dir=root / "postgres" / "west", log_path=logs / "pg-west.log",
            upstream_host=up_host, upstream_port=up_port, **SECRETS)
        handles.append(pg.create(standby).process)
        specs = {}
        for db in (primary, standby):
            spec = ehr.EhrSpec(
                region=db.name, role=db.role, host=HOST, port=free_port(), workers=1,
                db_url=pg.app_dsn(db), work_dir=root / f"ehr-{db.name}",
                log_path=logs / f"ehr-{db.name}.log")
            handles.append(ehr.start(spec).process)
            specs[db.name] = spec
        router = haproxy.RouterSpec(
            servers=(haproxy.RouterServer(name="east", host=HOST, port=specs["east"].port),
                     haproxy.RouterServer(name="west", host=HOST, port=specs["west"].port,
                                          backup=True)),
            config_path=root / "haproxy.cfg", socket_path=root / "haproxy.sock",
            log_path=logs / "haproxy.log", port=free_port(), stats_port=free_port())
        handles.append(haproxy.start(router).process)
        stack.cluster = LocalCluster(
            stack="test", replication=replication,
            databases={"east": primary, "west": standby},
            ehr_urls={name: spec.url for name, spec in specs.items()},
            router=router, toxiproxy_api=toxi_spec.api_url, repl_listen=repl_listen)
        stack.ehr_specs = specs
        return stack
    except BaseException:
        stack.close()
        raise
