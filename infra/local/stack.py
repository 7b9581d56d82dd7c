"""``deploy(topology)``: declare the whole local stack as Pulumi resources.

Order (by dependencies, so Pulumi starts what it can in parallel): the Toxiproxy
network; the database cluster (the primary, then standbys through their ``repl-``
links); the primary region's EHR (which migrates), then the standby regions' EHRs;
the router; Prometheus and Alertmanager, then chartguard's SLO rules in them; and,
on its own, the status service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi

from infra.local.components import (
    DatabaseCluster,
    DatabaseClusterArgs,
    Network,
    NetworkArgs,
    Observability,
    ObservabilityArgs,
    Region,
    RegionArgs,
    Router,
    RouterArgs,
    StatusService,
    StatusServiceArgs,
)
from infra.local.errors import InvalidSpecError
from infra.local.plan import plan
from infra.local.settings import LocalSettings
from infra.local.slorules import PROFILES, SloProfile
from infra.local.statuspage import resolve_token
from infra.topology import Topology

__all__ = ["deploy"]


def deploy(
    topology: Topology,
    *,
    options: Mapping[str, Any] | None = None,
    settings: LocalSettings | None = None,
) -> dict[str, Any]:
    """Declare ``topology``'s local resources; return the target's stack outputs.

    ``options["portOffset"]`` (stack config ``chartguard:portOffset``) moves every port,
    so a private copy can run beside a ``local`` stack; ``options["statusToken"]``
    (secret config ``chartguard:statusToken``) is the status service's SRE token, the
    documented local default when unset on the ``local`` stack and required on any
    other; ``options["sloProfile"]`` is ``standard`` (default) or ``compressed``.
    ``settings`` (default: from ``CHARTGUARD_*`` variables) says where state and
    binaries are. Returns ``dsns`` (region -> DSN), ``pids`` (region -> {postgres,
    ehr}) and ``service_pids``.
    """
    settings = settings or LocalSettings()
    offset = (options or {}).get("portOffset", settings.port_offset) or 0
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 20000:
        raise InvalidSpecError(f"chartguard:portOffset must be an integer 0..20000, not {offset!r}")
    token = resolve_token(topology.stack, (options or {}).get("statusToken"))
    profile = (options or {}).get("sloProfile") or "standard"
    if profile not in PROFILES:
        raise InvalidSpecError(
            f"chartguard:sloProfile must be one of {list(PROFILES)}, not {profile!r}"
        )
    the_plan = plan(topology.with_port_offset(offset), settings=settings,
                    status_token=token, slo_profile=cast(SloProfile, profile))

    network = Network("network", NetworkArgs(server=the_plan.toxiproxy, links=the_plan.links))
    primary_db, *standby_dbs = the_plan.databases
    cluster = DatabaseCluster(
        "databases",
        DatabaseClusterArgs(
            primary=primary_db,
            standbys=tuple(standby_dbs),
            repl_links={db.name: network.links[f"repl-{db.name}"] for db in standby_dbs},
        ),
    )
    regions: dict[str, Region] = {}
    for spec in the_plan.ehrs:
        # The primary's EHR migrates and seeds: in sync mode that needs every standby up.
        depends: list[pulumi.Resource] = [
            network.links[f"db-{spec.region}"], *cluster.servers.values()
        ]
        if spec.role == "standby":
            depends.append(regions[primary_db.name].ehr)
        regions[spec.region] = Region(f"region-{spec.region}",
                                      RegionArgs(ehr=spec, depends_on=depends))
    router = Router(
        "router",
        RouterArgs(
            spec=the_plan.router,
            depends_on=[
                *(network.links[f"edge-{name}"] for name in regions),
                *(region.ehr for region in regions.values()),
            ],
        ),
    )
    observability = Observability(
        "observability",
        ObservabilityArgs(prometheus=the_plan.prometheus, alertmanager=the_plan.alertmanager,
                          slo_rules=the_plan.slo_rules),
    )
    status = StatusService("status", StatusServiceArgs(spec=the_plan.status))
    return {
        "dsns": dict(the_plan.dsns),
        "pids": {
            name: {"postgres": cluster.servers[name].pid, "ehr": region.ehr.pid}
            for name, region in regions.items()
        },
        "service_pids": {
            "toxiproxy": network.server.pid,
            "router": router.haproxy.pid,
            "prometheus": observability.prometheus.pid,
            "alertmanager": observability.alertmanager.pid,
            "status": status.server.pid,
        },
    }
