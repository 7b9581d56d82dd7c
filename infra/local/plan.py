"""From a topology to the spec of every local process: pure, no Pulumi, no side effects.

Everything of a stack lives under ``<state_dir>/<stack>/``: ``logs/``,
``postgres/<region>/`` (data dirs), ``ehr-<region>/`` (EHR working folders),
``haproxy.cfg`` and ``haproxy.sock``, ``prometheus/`` (``prometheus.yml``, ``data/``,
``rules/*.yml`` written by the monitoring package), ``alertmanager/``
(``alertmanager.yml``, ``data/``) and ``status/`` (the status service's SQLite file).
The only thing read is the SLO spec file, for its digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chartguard_common.scrape import scrape_dir
from infra.local.alertmanager import AlertmanagerSpec
from infra.local.ehr import EhrSpec
from infra.local.haproxy import RouterServer, RouterSpec
from infra.local.postgres import PostgresSpec, app_dsn
from infra.local.prometheus import PrometheusSpec, ScrapeJob
from infra.local.settings import LocalSettings
from infra.local.slorules import SloProfile, SloRulesSpec, spec_digest
from infra.local.statuspage import LOCAL_DEFAULT_STATUS_TOKEN, StatusServiceSpec
from infra.local.toxiproxy import LinkSpec, ToxiproxySpec
from infra.topology import Topology

__all__ = ["LocalPlan", "plan"]

STATUS_WEBHOOK_PATH = "/api/v1/alerts/webhook"


@dataclass(frozen=True)
class LocalPlan:
    """Every process spec of a local stack, in start order per kind."""

    stack_dir: Path
    toxiproxy: ToxiproxySpec
    links: tuple[LinkSpec, ...]
    databases: tuple[PostgresSpec, ...]
    """The primary first, then the standbys."""
    ehrs: tuple[EhrSpec, ...]
    """The primary region first."""
    router: RouterSpec
    prometheus: PrometheusSpec
    alertmanager: AlertmanagerSpec
    status: StatusServiceSpec
    slo_rules: SloRulesSpec
    dsns: dict[str, str]
    """Each region's application DSN, straight to its PostgreSQL (not through a link)."""


def plan(
    topology: Topology,
    *,
    settings: LocalSettings,
    status_token: str = LOCAL_DEFAULT_STATUS_TOKEN,
    slo_profile: SloProfile = "standard",
) -> LocalPlan:
    """The specs for ``topology`` (ports already shifted if a private copy is wanted).

    ``status_token`` is the status service's SRE token (its spec refuses the local
    default for any stack but ``local``); ``slo_profile`` picks the SLO rules' windows.
    """
    stack_dir = settings.stack_dir(topology.stack)
    logs = stack_dir / "logs"
    ports = topology.ports
    services = topology.services
    regions = (topology.primary, *topology.standbys)
    # The router's servers and the scrape targets keep the config's order, whoever is
    # primary: a role change (after a migration) then flips backup flags only, exactly
    # as the runbook's router reload did, instead of reordering (and reloading) both.
    in_config_order = topology.regions
    standby_names = tuple(r.name for r in topology.standbys)
    # With no standby there is nothing to wait for: commit locally.
    replication = topology.replication if standby_names else "async"

    toxi = ToxiproxySpec(
        log_path=logs / "toxiproxy.log",
        host=services.toxiproxy.host,
        port=services.toxiproxy.port,
        binary=settings.tools_bin_dir / "toxiproxy-server",
    )
    links = tuple(
        LinkSpec(api_url=toxi.api_url, name=link.name, listen_host=link.listen.host,
                 listen_port=link.listen.port, upstream_host=link.upstream.host,
                 upstream_port=link.upstream.port)
        for link in topology.links
    )
    secrets = {
        "app_password": settings.db_password,
        "replication_password": settings.replication_password,
        "superuser_password": settings.superuser_password,
    }
    databases = []
    for region in regions:
        repl = topology.link(f"repl-{region.name}").listen if region.role == "standby" else None
        databases.append(
            PostgresSpec(
                name=region.name,
                role=region.role,
                host=region.address,
                port=ports.postgres,
                data_dir=stack_dir / "postgres" / region.name,
                log_path=logs / f"postgres-{region.name}.log",
                replication=replication,
                sync_standbys=standby_names if region.role == "primary" else (),
                upstream_host=repl.host if repl else None,
                upstream_port=repl.port if repl else None,
                bin_dir=settings.pg_bin_dir,
                run_as=settings.pg_user,
                **secrets,
            )
        )
    by_region = {db.name: db for db in databases}
    ehrs = []
    for region in regions:
        db_link = topology.link(f"db-{region.name}").listen
        ehrs.append(
            EhrSpec(
                region=region.name,
                role=region.role,
                host=region.address,
                port=ports.ehr,
                workers=region.workers,
                db_url=app_dsn(by_region[region.name], host=db_link.host, port=db_link.port),
                work_dir=stack_dir / f"ehr-{region.name}",
                log_path=logs / f"ehr-{region.name}.log",
                chartguard_bin=settings.chartguard_bin,
                status_url=services.status.url(),
            )
        )
    router = RouterSpec(
        servers=tuple(
            # Traffic crosses the region's edge link; health checks go to the EHR itself.
            RouterServer(name=r.name, host=topology.link(f"edge-{r.name}").listen.host,
                         port=topology.link(f"edge-{r.name}").listen.port,
                         backup=r.role != "primary",
                         check_host=r.address, check_port=ports.ehr)
            for r in in_config_order
        ),
        config_path=stack_dir / "haproxy.cfg",
        socket_path=stack_dir / "haproxy.sock",
        log_path=logs / "haproxy.log",
        host=services.router.host,
        port=services.router.port,
        stats_host=services.router_stats.host,
        stats_port=services.router_stats.port,
        binary=settings.haproxy_bin,
    )
    ehr_targets = tuple(f"{r.address}:{ports.ehr}" for r in in_config_order)
    jobs = (
        ScrapeJob(name="router", targets=(services.router_stats.address,)),
        # Out of band, straight to each EHR: a browned-out edge link must not blind us.
        # The EHR exports chartguard_replication_lag_seconds, the replication-lag source.
        ScrapeJob(name="ehr", targets=ehr_targets,
                  labels=tuple(zip(ehr_targets, (r.name for r in in_config_order),
                                   strict=True))),
        ScrapeJob(name="toxiproxy", targets=(services.toxiproxy.address,)),
        ScrapeJob(name="alertmanager", targets=(services.alertmanager.address,)),
        ScrapeJob(name="prometheus", targets=(services.prometheus.address,)),
    )
    prom = PrometheusSpec(
        # Every second: a cutover's refused writes last about one, and a short rehearsal
        # needs enough latency samples to compare against its baseline.
        scrape_interval="1s",
        config_path=stack_dir / "prometheus" / "prometheus.yml",
        data_dir=stack_dir / "prometheus" / "data",
        rules_dir=stack_dir / "prometheus" / "rules",
        log_path=logs / "prometheus.log",
        jobs=jobs,
        # A chaos run lists its fault gauge here while it runs. (The load generator's
        # client view joins when the rehearsal judges it against a control phase: gated
        # alone over a brownout, it fails every rehearsal on the brownout itself.)
        discovery_dir=scrape_dir(stack_dir),
        discovered_jobs=("chaos",),
        alertmanagers=(services.alertmanager.address,),
        host=services.prometheus.host,
        port=services.prometheus.port,
        binary=settings.prometheus_bin,
    )
    am = AlertmanagerSpec(
        config_path=stack_dir / "alertmanager" / "alertmanager.yml",
        data_dir=stack_dir / "alertmanager" / "data",
        log_path=logs / "alertmanager.log",
        webhook_url=services.status.url() + STATUS_WEBHOOK_PATH,
        host=services.alertmanager.host,
        port=services.alertmanager.port,
        binary=settings.alertmanager_bin,
    )
    status = StatusServiceSpec(
        stack=topology.stack,
        state_dir=settings.state_dir,
        work_dir=stack_dir / "status",
        log_path=logs / "status.log",
        host=services.status.host,
        port=services.status.port,
        prometheus_url=prom.url,
        token=status_token,
        chartguard_bin=settings.chartguard_bin,
    )
    slo_rules = SloRulesSpec(
        stack_dir=stack_dir,
        profile=slo_profile,
        spec_path=settings.slo_spec,
        spec_sha256=spec_digest(settings.slo_spec),
        webhook_url=am.webhook_url,
        prometheus_url=prom.url,
        alertmanager_url=am.url,
        chartguard_bin=settings.chartguard_bin,
    )
    return LocalPlan(
        stack_dir=stack_dir,
        toxiproxy=toxi,
        links=links,
        databases=tuple(databases),
        ehrs=tuple(ehrs),
        router=router,
        prometheus=prom,
        alertmanager=am,
        status=status,
        slo_rules=slo_rules,
        dsns={db.name: app_dsn(db) for db in databases},
    )
