"""The running local stack as the runbooks see it: database specs, router, links.

Built from ``.state/<stack>/deployment.json`` (the contract every package reads) plus
the local target's settings, through the same :func:`infra.local.plan.plan` the stack
was deployed from, so every spec (data dir, ports, secrets) is the deployed one.
Tests build it directly from the specs of the processes they started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra.errors import InfraError
from infra.local import toxiproxy
from infra.local.errors import LocalTargetError
from infra.local.haproxy import RouterSpec
from infra.local.plan import plan
from infra.local.postgres import PostgresSpec
from infra.local.settings import LocalSettings
from infra.outputs import write_deployment
from infra.roles import roles_path, write_roles
from infra.topology import Topology
from runbooks.errors import PrecheckFailed, RunbookError

__all__ = ["LocalCluster", "load_deployment", "topology_from_deployment"]


@dataclass(frozen=True, kw_only=True)
class LocalCluster:
    """Who is primary, each region's database spec, and how to reach router and links.

    ``repl_listen`` maps a region to where its ``repl-<region>`` Toxiproxy link listens
    (a standby streams through it); without a Toxiproxy API a standby streams
    straight from the primary.
    """

    stack: str
    replication: str
    databases: dict[str, PostgresSpec]
    ehr_urls: dict[str, str]
    router: RouterSpec | None = None
    router_url: str | None = None
    toxiproxy_api: str | None = None
    repl_listen: dict[str, tuple[str, int]] = field(default_factory=dict)
    status_url: str | None = None
    prometheus_url: str | None = None
    deployment_path: Path | None = None

    @property
    def primary(self) -> str:
        primaries = [n for n, s in self.databases.items() if s.role == "primary"]
        if len(primaries) != 1:
            raise RunbookError(f"expected exactly one primary, found {primaries or 'none'}")
        return primaries[0]

    @property
    def standbys(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.databases.items() if s.role == "standby")

    def db(self, region: str) -> PostgresSpec:
        try:
            return self.databases[region]
        except KeyError:
            raise PrecheckFailed(
                f"no region named {region!r} (regions: {sorted(self.databases)})") from None

    def upstream_for(self, standby: str, primary: str) -> tuple[str, int]:
        """Where ``standby`` should stream from once ``primary`` is the primary.

        With Toxiproxy, the ``repl-<standby>`` link is (re)pointed at the primary so
        replication stays breakable by chaos scenarios; links of the primary itself are
        removed (nothing replicates into a primary).
        """
        target = self.db(primary)
        if self.toxiproxy_api is None or standby not in self.repl_listen:
            return target.host, target.port
        host, port = self.repl_listen[standby]
        spec = toxiproxy.ProxySpec(name=f"repl-{standby}", listen_host=host, listen_port=port,
                                   upstream_host=target.host, upstream_port=target.port)
        try:
            toxiproxy.put_link(self.toxiproxy_api, spec)
            toxiproxy.client(self.toxiproxy_api).delete_proxy(f"repl-{primary}")
        except LocalTargetError as e:
            raise RunbookError(f"cannot point link {spec.name} at {primary!r}: {e}") from e
        return host, port

    def with_primary(self, primary: str) -> LocalCluster:
        """The same cluster with ``primary`` as the primary and every other region a standby."""
        self.db(primary)
        names = tuple(n for n in self.databases if n != primary)
        dbs = {}
        for name, spec in self.databases.items():
            if name == primary:
                dbs[name] = replace(spec, role="primary", sync_standbys=names,
                                    upstream_host=None, upstream_port=None)
            else:
                host, port = self.repl_listen.get(
                    name, (self.databases[primary].host, self.databases[primary].port))
                dbs[name] = replace(spec, role="standby", sync_standbys=(),
                                    upstream_host=host, upstream_port=port)
        return replace(self, databases=dbs)

    def record_roles(self, *, pids: dict[str, dict[str, int]] | None = None,
                     router_pid: int | None = None, set_by: str = "runbook") -> None:
        """Record this cluster's roles: in ``deployment.json`` (roles, ``repl-`` links,
        restarted pids) and as the stack's desired state in ``roles.json`` beside it
        (:mod:`infra.roles`), so a later ``chartguard up`` keeps them. Both atomically.

        The ``repl-`` links come from :attr:`infra.topology.Topology.links` with the new
        roles, the function the stack's plan uses too, so the next ``up`` finds them as
        they are.
        """
        if self.deployment_path is None:
            return
        document = load_deployment(self.deployment_path)
        primary = self.primary
        roles = {r["name"]: "primary" if r["name"] == primary else "standby"
                 for r in document["regions"]}
        try:
            topology = topology_from_deployment(document).with_roles(roles)
        except InfraError as e:
            raise RunbookError(f"{self.deployment_path}: cannot record roles: {e}") from e
        for region in document["regions"]:
            region["role"] = roles[region["name"]]
            region["pids"] = {**region.get("pids", {}), **(pids or {}).get(region["name"], {})}
        links = [ln for ln in document["links"] if not ln["name"].startswith("repl-")]
        links += [{"name": ln.name, "listen": ln.listen.address, "upstream": ln.upstream.address}
                  for ln in topology.links if ln.kind == "repl"]
        document["links"] = links
        if router_pid is not None:
            document.setdefault("service_pids", {})["router"] = router_pid
        write_deployment(self.deployment_path, document)
        write_roles(roles_path(self.deployment_path.parent), roles, stack=document["stack"],
                    set_by=set_by)

    @classmethod
    def from_deployment(cls, path: Path, *, settings: LocalSettings | None = None) -> LocalCluster:
        """The cluster described by ``deployment.json`` at ``path``."""
        settings = settings or LocalSettings()
        document = load_deployment(path)
        topology = topology_from_deployment(document)
        the_plan = plan(topology, settings=settings)
        repl_listen = {}
        for region in topology.regions:
            listen = topology.link(f"edge-{region.name}").listen  # same address in every link
            repl_listen[region.name] = (listen.host, topology.ports.repl)
        return cls(
            stack=topology.stack,
            replication=topology.replication,
            databases={db.name: db for db in the_plan.databases},
            # Straight to each EHR, not through its edge link: a runbook judges a region's
            # health where it is, as the router's checks do (the edge may be browned out).
            ehr_urls={ehr.region: ehr.url for ehr in the_plan.ehrs},
            router=the_plan.router,
            router_url=document.get("router"),
            toxiproxy_api=document.get("toxiproxy"),
            repl_listen=repl_listen,
            status_url=document.get("status"),
            prometheus_url=document.get("prometheus"),
            deployment_path=path,
        )


def load_deployment(path: Path) -> dict[str, Any]:
    """``deployment.json`` as a dict; a clear error when the stack is not up."""
    try:
        document: dict[str, Any] = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PrecheckFailed(f"{path} does not exist: is the stack up? (chartguard up)") from None
    except (OSError, ValueError) as e:
        raise PrecheckFailed(f"{path} is not a readable deployment file: {e}") from e
    for key in ("stack", "regions", "links", "router"):
        if key not in document:
            raise PrecheckFailed(f"{path}: deployment file has no {key!r}")
    if document.get("target", "local") != "local":
        raise PrecheckFailed(f"{path}: the local runbooks need a local stack, "
                             f"not {document.get('target')!r}")
    return document


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def topology_from_deployment(document: dict[str, Any]) -> Topology:
    """Rebuild the :class:`~infra.topology.Topology` a deployment file was written from."""
    links = {ln["name"]: ln for ln in document["links"]}
    try:
        first = document["regions"][0]["name"]

        def port(text: str) -> int:
            return int(text.rsplit(":", 1)[1])

        offset = port(links[f"edge-{first}"]["listen"]) - 18000
        repl = next((port(ln["listen"]) for n, ln in links.items() if n.startswith("repl-")),
                    25432 + offset)
        config = {
            "replication": document.get("replication", "sync"),
            "regions": [{"name": r["name"], "role": r["role"], "address": r["address"]}
                        for r in document["regions"]],
            "ports": {"ehr": port(links[f"edge-{first}"]["upstream"]),
                      "postgres": port(links[f"db-{first}"]["upstream"]),
                      "edge": port(links[f"edge-{first}"]["listen"]),
                      "db": port(links[f"db-{first}"]["listen"]),
                      "repl": repl},
            "services": {
                "router": _endpoint(document["router"]),
                "router_stats": _endpoint(document["router_metrics"]),
                "toxiproxy": _endpoint(document["toxiproxy"]),
                "prometheus": _endpoint(document["prometheus"]),
                "alertmanager": _endpoint(document["alertmanager"]),
                "status": _endpoint(document["status"]),
            },
        }
        return Topology.from_config(config, stack=document["stack"])
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise PrecheckFailed(f"deployment file does not describe a local stack: {e!r}") from e
    except InfraError as e:
        raise PrecheckFailed(f"deployment file: {e}") from e
