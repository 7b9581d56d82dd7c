"""Generated Prometheus and Alertmanager configs: validated by promtool/amtool, and the
inhibition proven on a real Alertmanager (a page mutes the ticket for the same SLO view)."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
import yaml
from click.testing import CliRunner

from monitoring.alertmanager import generate_alertmanager_config, render_alertmanager_config
from monitoring.cli import slo
from monitoring.errors import GateInputError
from monitoring.prometheus_config import (
    ScrapeJob,
    render_prometheus_config,
    scrape_jobs_from_deployment,
)
from tests.monitoring.conftest import AMTOOL, free_port

WEBHOOK = "http://127.0.0.1:8090/api/v1/alerts/webhook"
# Live Alertmanagers notify a closed port: never a status service someone else runs on :8090.
NOWHERE = f"http://127.0.0.1:{free_port()}/api/v1/alerts/webhook"

DEPLOYMENT = {
    "regions": [
        {"name": "east", "role": "primary", "ehr_url": "http://127.0.1.1:8000"},
        {"name": "west", "role": "standby", "ehr_url": "http://127.0.2.1:8000"},
    ],
    "router": {"url": "http://127.0.0.1:8080"},
    "prometheus": "http://127.0.0.1:9090",
}


@pytest.mark.unit
def test_prometheus_config_from_deployment_passes_promtool(spec, tmp_path, promtool):
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(DEPLOYMENT))
    jobs = scrape_jobs_from_deployment(path)
    assert [(j.name, j.targets) for j in jobs] == [
        ("ehr-east", ("127.0.1.1:8000",)), ("ehr-west", ("127.0.2.1:8000",)),
        ("router", ("127.0.0.1:8405",))]
    rules = tmp_path / "rules"
    rules.mkdir()
    text = render_prometheus_config(spec, jobs=jobs, rule_files=[str(rules / "*.yml")],
                                    alertmanagers=["http://127.0.0.1:9093"], profile="compressed")
    config = yaml.safe_load(text)
    assert config["global"]["evaluation_interval"] == "1s"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"]
    (tmp_path / "prometheus.yml").write_text(text)
    done = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.unit
@pytest.mark.parametrize(
    ("deployment", "message"),
    [({}, "'regions' must be a non-empty list"),
     ({"regions": [{"name": "east"}]}, "regions\\[0\\] needs 'name' and 'ehr_url'")],
)
def test_bad_deployment_is_refused(deployment, message):
    with pytest.raises(GateInputError, match=message):
        scrape_jobs_from_deployment(deployment)


@pytest.mark.unit
def test_scrape_job_urls_are_checked():
    assert ScrapeJob.from_url("x", "http://127.0.0.1:9/m").metrics_path == "/m"
    with pytest.raises(ValueError, match="not an http"):
        ScrapeJob.from_url("x", "127.0.0.1:9")


@pytest.mark.unit
def test_alertmanager_routes_everything_to_the_status_service(spec):
    config = generate_alertmanager_config(spec, webhook_url=WEBHOOK, profile="compressed")
    assert config["route"]["receiver"] == "status-service"
    assert config["route"]["group_wait"] == "1s"
    hook = config["receivers"][0]["webhook_configs"][0]
    assert hook == {"url": WEBHOOK, "send_resolved": True}
    assert config["inhibit_rules"] == [{
        "source_matchers": ['severity="page"'], "target_matchers": ['severity="ticket"'],
        "equal": ["slo", "scope", "region"]}]
    with pytest.raises(ValueError, match="webhook_url"):
        generate_alertmanager_config(spec, webhook_url="127.0.0.1:8090")


@pytest.mark.unit
@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (the real server test covers it)")
def test_amtool_check_config(spec, tmp_path):
    for profile in ("standard", "compressed"):
        path = tmp_path / f"am-{profile}.yml"
        path.write_text(render_alertmanager_config(spec, webhook_url=WEBHOOK, profile=profile))
        done = subprocess.run([str(AMTOOL), "check-config", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def _alert(severity: str, **labels: str) -> dict:
    return {"labels": {"alertname": "AvailabilityBudgetBurn", "severity": severity,
                       "slo": "availability", **labels},
            "annotations": {"summary": "test"}}


@pytest.mark.integration
def test_a_page_inhibits_the_ticket_for_the_same_view_on_real_alertmanager(spec, servers):
    am = servers.alertmanager(render_alertmanager_config(spec, webhook_url=NOWHERE,
                                                         profile="compressed"))
    alerts = [
        _alert("page", scope="overall"),
        _alert("ticket", scope="overall"),
        _alert("page", scope="region", region="east"),
        _alert("ticket", scope="region", region="east"),
        _alert("ticket", scope="region", region="west"),  # no page for west: stays active
    ]
    response = httpx.post(f"{am.url}/api/v2/alerts", json=alerts, timeout=10)
    assert response.status_code == 200, response.text
    got = httpx.get(f"{am.url}/api/v2/alerts", timeout=10).json()
    state = {(a["labels"]["severity"], a["labels"]["scope"], a["labels"].get("region")):
             a["status"] for a in got}
    assert len(state) == 5
    for key in [("page", "overall", None), ("page", "region", "east"),
                ("ticket", "region", "west")]:
        assert state[key]["state"] == "active", key
    for key in [("ticket", "overall", None), ("ticket", "region", "east")]:
        assert state[key]["state"] == "suppressed", key
        assert state[key]["inhibitedBy"], key


@pytest.mark.integration
def test_install_into_a_running_stack_reloads_prometheus_and_alertmanager(spec, servers):
    stack = servers.tmp / "stack"
    prometheus = servers.prometheus(spec=spec, name="stack/prometheus", profile="compressed",
                                    rule_files=[str(stack / "prometheus" / "rules" / "*.yml")])
    # the stack's starter config, as infra writes it before monitoring installs its own
    starter = yaml.safe_dump({"route": {"receiver": "status"}, "receivers": [
        {"name": "status", "webhook_configs": [{"url": NOWHERE}]}]})
    alertmanager = servers.alertmanager(starter, name="stack/alertmanager")
    (stack / "deployment.json").write_text(json.dumps(
        {"regions": [], "prometheus_url": prometheus.url,
         "alertmanager": {"url": alertmanager.url}}))
    result = CliRunner().invoke(slo, ["install", "--stack-dir", str(stack), "--webhook", NOWHERE])
    assert result.exit_code == 0, result.output
    assert result.output.count("reloaded") == 2
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {g["name"] for g in groups} == {"chartguard-slo-availability", "chartguard-slo-latency"}
    assert all(r["health"] != "err" for g in groups for r in g["rules"])
    assert all(g["interval"] == 1 for g in groups)  # the compressed profile's evaluation
    status = httpx.get(f"{alertmanager.url}/api/v2/status", timeout=10).json()
    assert "status-service" in status["config"]["original"]
    assert "inhibit_rules" in status["config"]["original"]


@pytest.mark.integration
def test_install_without_a_reachable_prometheus_fails_clearly(spec, tmp_path):
    result = CliRunner().invoke(slo, ["install", "--stack-dir", str(tmp_path), "--prometheus",
                                      "http://127.0.0.1:9", "--alertmanager", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "did not answer" in result.output
    assert (tmp_path / "prometheus" / "rules" / "chartguard-slo.yml").exists()


@pytest.mark.unit
def test_slo_cli_writes_valid_configs(spec, tmp_path, promtool):
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps(DEPLOYMENT))
    runner = CliRunner()
    shown = runner.invoke(slo, ["show"])
    assert shown.exit_code == 0 and "99.900%" in shown.output and "page:" in shown.output
    am = runner.invoke(slo, ["alertmanager", "--out", str(tmp_path / "am.yml"),
                             "--webhook", WEBHOOK])
    assert am.exit_code == 0, am.output
    assert "status-service" in (tmp_path / "am.yml").read_text()
    prom = runner.invoke(slo, ["prometheus", "--deployment", str(deployment), "--out",
                               str(tmp_path / "prometheus.yml"), "--rules-dir",
                               str(tmp_path / "rules"), "--profile", "compressed"])
    assert prom.exit_code == 0, prom.output
    rules = runner.invoke(slo, ["rules", "--out", str(tmp_path / "rules"), "--profile",
                                "compressed"])
    assert rules.exit_code == 0, rules.output
    done = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.unit
def test_slo_cli_refuses_bad_input_and_writes_nothing(tmp_path):
    runner = CliRunner()
    result = runner.invoke(slo, ["rules", "--out", str(tmp_path / "rules"), "--profile", "fast"])
    assert result.exit_code == 2 and "unknown profile 'fast'" in result.output
    result = runner.invoke(slo, ["alertmanager", "--out", str(tmp_path / "am.yml"), "--webhook",
                                 "127.0.0.1:8090"])
    assert result.exit_code == 2 and "webhook_url" in result.output
    bad = tmp_path / "slo.yaml"
    bad.write_text("apiVersion: chartguard/v1\nkind: SLOSpec\n")
    result = runner.invoke(slo, ["show", "--spec", str(bad)])
    assert result.exit_code == 2 and "period" in result.output
    assert not any(tmp_path.glob("rules*")) and not (tmp_path / "am.yml").exists()
