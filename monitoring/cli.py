"""``chartguard gate`` and ``chartguard slo``: the release gate and the SLO generators."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from infra.envcheck import describe_settings_error
from monitoring.errors import MonitoringError
from monitoring.files import atomic_write
from monitoring.settings import MonitoringSettings
from monitoring.slo import SLOSpec, load_spec

EXIT_ERROR = 2  # could not evaluate / bad input: never mistaken for a pass

_spec_option = click.option(
    "--spec", "spec_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="SLO spec (default: the packaged monitoring/slo.yaml or CHARTGUARD_SLO_SPEC).",
)


def _profile_option(default: str):  # type: ignore[no-untyped-def]
    return click.option("--profile", default=default, show_default=True,
                        help="time profile from the spec: standard or compressed")


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(EXIT_ERROR)


def _settings() -> MonitoringSettings:
    """The settings from ``CHARTGUARD_*``; a bad variable is one sentence naming it."""
    try:
        return MonitoringSettings()
    except ValidationError as e:
        _fail(describe_settings_error(e))


def _spec(path: Path | None, settings: MonitoringSettings) -> SLOSpec:
    try:
        return load_spec(path or settings.slo_spec)
    except MonitoringError as e:
        _fail(str(e))


@click.command()
@click.option("--prometheus", "prometheus_url", default=None,
              help="Prometheus base URL (default CHARTGUARD_PROMETHEUS_URL or :9090).")
@click.option("--window", required=True, help="START..END (ISO 8601, unix seconds, now-10m).")
@click.option("--baseline", default=None, help="START..END to compare latency against.")
@click.option("--ledger-verify", type=click.Path(dir_okay=False, path_type=Path),
              help="ledger verify result JSON (chartguard load verify).")
@click.option("--failover", type=click.Path(dir_okay=False, path_type=Path),
              help="failover result JSON (rto_seconds, rpo_writes).")
@click.option("--profile", default=None, help="standard or compressed (default: settings).")
@click.option("--require-client", is_flag=True,
              help="missing load-generator metrics make the gate error instead of skipping.")
@click.option("--step", type=float, default=None,
              help="seconds per latency sample in the baseline comparison (default: the "
                   "profile's step); short runs need a short one, of several scrapes.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the result as JSON here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the result as JUnit XML here.")
@_spec_option
def gate(
    prometheus_url: str | None,
    window: str,
    baseline: str | None,
    ledger_verify: Path | None,
    failover: Path | None,
    profile: str | None,
    require_client: bool,
    step: float | None,
    json_path: Path | None,
    junit_path: Path | None,
    spec_path: Path | None,
) -> None:
    """Gate a release on the SLA: exit 0 pass, 1 fail, 2 could not evaluate."""
    from monitoring.gate import (
        Gate,
        GateRequest,
        TimeWindow,
        error_summary,
        gate_table,
        write_json,
        write_junit,
    )
    from monitoring.promql import PrometheusClient

    settings = _settings()
    spec = _spec(spec_path, settings)
    try:
        request = GateRequest(
            window=TimeWindow.parse(window, what="--window"),
            baseline=TimeWindow.parse(baseline, what="--baseline") if baseline else None,
            profile=spec.profile(profile or settings.slo_profile).name,
            ledger_verify=ledger_verify,
            failover=failover,
            require_client=require_client,
            step=step,
        )
        with PrometheusClient(prometheus_url or settings.prometheus_url,
                              timeout=settings.query_timeout) as client:
            result = Gate(client=client, spec=spec).evaluate(request)
    except (MonitoringError, ValueError) as e:
        _fail(str(e))
        return
    Console().print(gate_table(result))
    if json_path:
        write_json(result, json_path)
    if junit_path:
        write_junit(result, junit_path)
    summary = error_summary(result)
    if summary:
        Console(stderr=True).print(f"[bold red]error:[/] {summary}", highlight=False)
    sys.exit(result.exit_code)


@click.group()
def slo() -> None:
    """SLOs as code: show the spec, generate Prometheus rules and Alertmanager config."""


@slo.command("show")
@_spec_option
def slo_show(spec_path: Path | None) -> None:
    """Print the objectives, alerts and profiles of the spec."""
    spec = _spec(spec_path, _settings())
    from monitoring.duration import format_duration

    table = Table(title=f"SLOs over {format_duration(spec.period)}")
    for column in ("objective", "target", "threshold", "budget", "overall sources"):
        table.add_column(column)
    for o in spec.objectives.values():
        table.add_row(o.name, f"{o.target:.3%}",
                      f"{o.threshold * 1000:.0f} ms" if o.threshold else "-",
                      f"{o.budget:.3%}", ", ".join(s.source for s in o.indicator.overall))
    console = Console()
    console.print(table)
    for policy in spec.alerts:
        conds = "; ".join(f"{c.burn_rate:g}x over {format_duration(c.long)} and "
                          f"{format_duration(c.short)}" for c in policy.conditions)
        console.print(f"[bold]{policy.severity}[/]: {conds}")
    for p in spec.profiles.values():
        console.print(f"profile [bold]{p.name}[/]: {format_duration(spec.period)} -> "
                      f"{p.window(spec.period)} (windows >= {format_duration(p.min_window)})")


@slo.command("rules")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="directory for chartguard-slo.yml (e.g. .state/local/prometheus/rules)")
@_profile_option("standard")
@click.option("--check/--no-check", default=True, show_default=True,
              help="validate the written file with promtool check rules (when installed)")
@click.option("--reload", "reload_url", default=None,
              help="Prometheus base URL to POST /-/reload to afterwards")
@_spec_option
def slo_rules(out_dir: Path, profile: str, check: bool, reload_url: str | None,
              spec_path: Path | None) -> None:
    """Write the recording and alerting rules for a profile."""
    from monitoring.promql import PrometheusClient
    from monitoring.rules import write_rules

    spec = _spec(spec_path, _settings())
    try:
        path = write_rules(spec, out_dir, profile)
    except MonitoringError as e:
        _fail(str(e))
    promtool = shutil.which("promtool")
    if check and promtool:
        done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                              text=True, timeout=60)
        if done.returncode != 0:
            _fail(f"promtool rejected {path}:\n{done.stdout}{done.stderr}")
    click.echo(f"wrote {path} (profile {profile})")
    if reload_url:
        try:
            with PrometheusClient(reload_url) as client:
                client.reload()
        except MonitoringError as e:
            _fail(str(e))
        click.echo(f"reloaded {reload_url}")


@slo.command("alertmanager")
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--webhook", default=None,
              help="status service webhook URL (default CHARTGUARD_STATUS_WEBHOOK_URL)")
@_profile_option("standard")
@_spec_option
def slo_alertmanager(out_path: Path, webhook: str | None, profile: str,
                     spec_path: Path | None) -> None:
    """Write the Alertmanager configuration (routes to the status service, inhibitions)."""
    from monitoring.alertmanager import render_alertmanager_config

    settings = _settings()
    spec = _spec(spec_path, settings)
    try:
        text = render_alertmanager_config(
            spec, webhook_url=webhook or settings.status_webhook_url, profile=profile
        )
    except (MonitoringError, ValueError) as e:
        _fail(str(e))
        return
    atomic_write(out_path, text)
    click.echo(f"wrote {out_path}")


@slo.command("prometheus")
@click.option("--deployment", required=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=".state/<stack>/deployment.json")
@click.option("--out", "out_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rules-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--alertmanager", "alertmanager_url", default=None,
              help="Alertmanager base URL (default CHARTGUARD_ALERTMANAGER_URL)")
@click.option("--scrape-interval", default=1.0, show_default=True, type=float)
@_profile_option("standard")
@_spec_option
def slo_prometheus(deployment: Path, out_path: Path, rules_dir: Path,
                   alertmanager_url: str | None, scrape_interval: float, profile: str,
                   spec_path: Path | None) -> None:
    """Write a Prometheus configuration for what a deployment runs."""
    from monitoring.prometheus_config import render_prometheus_config, scrape_jobs_from_deployment

    settings = _settings()
    spec = _spec(spec_path, settings)
    try:
        text = render_prometheus_config(
            spec,
            jobs=scrape_jobs_from_deployment(deployment),
            rule_files=[str(rules_dir.resolve() / "*.yml")],
            alertmanagers=[alertmanager_url or settings.alertmanager_url],
            scrape_interval=scrape_interval,
            profile=profile,
        )
    except (MonitoringError, ValueError) as e:
        _fail(str(e))
        return
    atomic_write(out_path, text)
    click.echo(f"wrote {out_path}")


@slo.command("install")
@click.option("--stack-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="the local stack's state folder, e.g. .state/local")
@_profile_option("compressed")
@click.option("--webhook", default=None,
              help="status service webhook URL (default CHARTGUARD_STATUS_WEBHOOK_URL)")
@click.option("--prometheus", "prometheus_url", default=None,
              help="Prometheus to reload (default: from deployment.json)")
@click.option("--alertmanager", "alertmanager_url", default=None,
              help="Alertmanager to reload (default: from deployment.json)")
@click.option("--reload/--no-reload", default=True, show_default=True)
@_spec_option
def slo_install(stack_dir: Path, profile: str, webhook: str | None, prometheus_url: str | None,
                alertmanager_url: str | None, reload: bool, spec_path: Path | None) -> None:
    """Write rules and Alertmanager config into a running stack and reload both."""
    from monitoring.install import install

    settings = _settings()
    spec = _spec(spec_path, settings)
    try:
        result = install(spec, stack_dir=stack_dir, profile=profile,
                         webhook_url=webhook or settings.status_webhook_url,
                         prometheus_url=prometheus_url, alertmanager_url=alertmanager_url,
                         reload=reload)
    except (MonitoringError, ValueError) as e:
        _fail(str(e))
        return
    click.echo(f"wrote {result.rules_path} and {result.alertmanager_path} (profile {profile})")
    for url in result.reloaded:
        click.echo(f"reloaded {url}")
