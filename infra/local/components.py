"""The local target's component resources: how the processes group and depend.

- ``chartguard:local:Network``: the Toxiproxy server and every link.
- ``chartguard:local:DatabaseCluster``: the primary, then each standby cloned through
  its ``repl-`` link.
- ``chartguard:local:Region``: one region's EHR, started once its database (and, for a
  standby region, the primary's migrated EHR) is there.
- ``chartguard:local:Router``: HAProxy in front of the regions' edge links.
- ``chartguard:local:Observability``: Alertmanager and Prometheus, then chartguard's
  SLO rules and Alertmanager routes installed into them.
- ``chartguard:local:StatusService``: the status service (its own process: it must not
  go down with any region).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi

from infra.local.alertmanager import AlertmanagerSpec
from infra.local.ehr import EhrSpec
from infra.local.haproxy import RouterSpec
from infra.local.postgres import PostgresSpec
from infra.local.prometheus import PrometheusSpec
from infra.local.resources import (
    AlertmanagerServer,
    EhrServer,
    HaproxyRouter,
    PostgresServer,
    PrometheusServer,
    SloRules,
    StatusServer,
    ToxiproxyLink,
    ToxiproxyServer,
)
from infra.local.slorules import SloRulesSpec
from infra.local.statuspage import StatusServiceSpec
from infra.local.toxiproxy import LinkSpec, ToxiproxySpec

__all__ = [
    "NetworkArgs",
    "Network",
    "DatabaseClusterArgs",
    "DatabaseCluster",
    "RegionArgs",
    "Region",
    "RouterArgs",
    "Router",
    "ObservabilityArgs",
    "Observability",
    "StatusServiceArgs",
    "StatusService",
]


def _opts(parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()
          ) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on))


@dataclass(kw_only=True)
class NetworkArgs:
    server: ToxiproxySpec
    links: tuple[LinkSpec, ...]


class Network(pulumi.ComponentResource):
    """The Toxiproxy server and one proxy per link (``links`` maps name -> resource)."""

    def __init__(self, name: str, args: NetworkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chartguard:local:Network", name, None, opts)
        self.server = ToxiproxyServer("toxiproxy", args.server, _opts(self))
        self.links = {
            link.name: ToxiproxyLink(f"link-{link.name}", link, self.server,
                                     _opts(self, [self.server]))
            for link in args.links
        }
        self.api_url = args.server.api_url
        self.register_outputs({"api_url": self.api_url, "pid": self.server.pid})


@dataclass(kw_only=True)
class DatabaseClusterArgs:
    primary: PostgresSpec
    standbys: tuple[PostgresSpec, ...] = ()
    repl_links: dict[str, pulumi.Resource] = field(default_factory=dict)
    """Standby name -> its ``repl-`` link resource (the standby streams through it)."""


class DatabaseCluster(pulumi.ComponentResource):
    """A primary and its streaming standbys (``servers`` maps region -> resource)."""

    def __init__(self, name: str, args: DatabaseClusterArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chartguard:local:DatabaseCluster", name, None, opts)
        primary = PostgresServer(f"postgres-{args.primary.name}", args.primary, _opts(self))
        self.servers: dict[str, PostgresServer] = {args.primary.name: primary}
        for spec in args.standbys:
            link = args.repl_links.get(spec.name)
            depends = [primary, link] if link is not None else [primary]
            self.servers[spec.name] = PostgresServer(
                f"postgres-{spec.name}", spec, _opts(self, depends)
            )
        self.register_outputs({"pids": {n: s.pid for n, s in self.servers.items()}})


@dataclass(kw_only=True)
class RegionArgs:
    ehr: EhrSpec
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """Its database and ``db-`` link; for a standby region also the primary's EHR."""


class Region(pulumi.ComponentResource):
    """One region's EHR service."""

    def __init__(self, name: str, args: RegionArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chartguard:local:Region", name, None, opts)
        self.ehr = EhrServer(f"ehr-{args.ehr.region}", args.ehr, _opts(self, args.depends_on))
        self.url = args.ehr.url
        self.register_outputs({"url": self.url, "pid": self.ehr.pid})


@dataclass(kw_only=True)
class RouterArgs:
    spec: RouterSpec
    depends_on: list[pulumi.Resource] = field(default_factory=list)


class Router(pulumi.ComponentResource):
    """The HAProxy global router."""

    def __init__(self, name: str, args: RouterArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chartguard:local:Router", name, None, opts)
        self.haproxy = HaproxyRouter("haproxy", args.spec, _opts(self, args.depends_on))
        self.url = f"http://{args.spec.host}:{args.spec.port}"
        self.register_outputs({"url": self.url, "pid": self.haproxy.pid})


@dataclass(kw_only=True)
class ObservabilityArgs:
    prometheus: PrometheusSpec
    alertmanager: AlertmanagerSpec
    slo_rules: SloRulesSpec | None = None
    """Installed once both servers answer (None: leave their rules alone)."""


class Observability(pulumi.ComponentResource):
    """Alertmanager, then Prometheus (which sends it alerts), then the SLO rules."""

    def __init__(self, name: str, args: ObservabilityArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chartguard:local:Observability", name, None, opts)
        self.alertmanager = AlertmanagerServer("alertmanager", args.alertmanager, _opts(self))
        self.prometheus = PrometheusServer(
            "prometheus", args.prometheus, _opts(self, [self.alertmanager])
        )
        self.slo_rules = (
            SloRules("slo-rules", args.slo_rules,
                     _opts(self, [self.prometheus, self.alertmanager]))
            if args.slo_rules is not None else None
        )
        self.register_outputs({
            "prometheus_url": args.prometheus.url,
            "alertmanager_url": args.alertmanager.url,
        })


@dataclass(kw_only=True)
class StatusServiceArgs:
    spec: StatusServiceSpec


class StatusService(pulumi.ComponentResource):
    """The status service for SREs and practices (alerts in, page/API/feeds out)."""

    def __init__(self, name: str, args: StatusServiceArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chartguard:local:StatusService", name, None, opts)
        self.server = StatusServer("statuspage", args.spec, _opts(self))
        self.url = args.spec.url
        self.register_outputs({"url": self.url, "pid": self.server.pid})
