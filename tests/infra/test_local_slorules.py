"""chartguard's SLO rules installed by command into a real Prometheus and Alertmanager."""

import shutil

import httpx
import pytest
import yaml

from infra.local import alertmanager, prometheus, slorules
from infra.local.errors import CommandError, InvalidSpecError
from infra.local.settings import LocalSettings

pytestmark = pytest.mark.integration

SLO_SPEC = LocalSettings().slo_spec


def _spec(workdir, **changes):
    fields = {
        "stack_dir": workdir,
        "spec_path": SLO_SPEC,
        "spec_sha256": slorules.spec_digest(SLO_SPEC),
        "webhook_url": "http://127.0.0.1:8090/api/v1/alerts/webhook",
        "prometheus_url": "http://127.0.0.1:9090",
        "alertmanager_url": "http://127.0.0.1:9093",
        **changes,
    }
    return slorules.SloRulesSpec(**fields)


@pytest.mark.unit
def test_bad_profile_and_off_loopback_servers_are_refused(workdir):
    with pytest.raises(InvalidSpecError, match="sloProfile"):
        _spec(workdir, profile="fast")
    with pytest.raises(InvalidSpecError, match="outside loopback"):
        _spec(workdir, prometheus_url="http://10.0.0.9:9090")
    with pytest.raises(InvalidSpecError, match="cannot read"):
        slorules.spec_digest(workdir / "missing.yaml")


def test_install_loads_slo_rules_and_routes_alerts_to_the_status_service(
    workdir, free_port, reaper
):
    am_spec = alertmanager.AlertmanagerSpec(
        config_path=workdir / "alertmanager" / "alertmanager.yml",
        data_dir=workdir / "alertmanager" / "data",
        log_path=workdir / "logs" / "alertmanager.log", port=free_port("127.0.0.1"))
    am_state = alertmanager.start(am_spec)
    reaper.on_teardown(lambda: alertmanager.destroy(am_state, am_spec))
    prom_spec = prometheus.PrometheusSpec(
        config_path=workdir / "prometheus" / "prometheus.yml",
        data_dir=workdir / "prometheus" / "data", rules_dir=workdir / "prometheus" / "rules",
        log_path=workdir / "logs" / "prometheus.log", port=free_port("127.0.0.1"), jobs=())
    prom_state = prometheus.start(prom_spec)
    reaper.on_teardown(lambda: prometheus.destroy(prom_state, prom_spec))

    spec = _spec(workdir, profile="compressed", prometheus_url=prom_spec.url,
                 alertmanager_url=am_spec.url)
    assert not slorules.installed(spec)
    slorules.install(spec)
    assert slorules.installed(spec)

    groups = httpx.get(f"{prom_spec.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    records = {r["name"] for g in groups for r in g["rules"] if r["type"] == "recording"}
    assert "slo:sli_error:ratio_rate5m" in records
    assert "slo:error_budget:remaining_ratio" in records
    config = yaml.safe_load(am_spec.config_path.read_text())
    hooks = [h["url"] for r in config["receivers"] for h in r.get("webhook_configs", [])]
    assert spec.webhook_url in hooks
    status = httpx.get(f"{am_spec.url}/api/v2/status", timeout=5).json()
    assert spec.webhook_url in status["config"]["original"]

    slorules.uninstall(spec)
    assert not slorules.installed(spec)


def test_install_refuses_a_spec_that_changed_since_its_digest(workdir):
    copy = workdir / "slo.yaml"
    shutil.copy(SLO_SPEC, copy)
    spec = _spec(workdir, spec_path=copy, spec_sha256=slorules.spec_digest(copy))
    copy.write_text(copy.read_text() + "\n# edited\n")
    with pytest.raises(InvalidSpecError, match="changed"):
        slorules.install(spec)


def test_a_failed_install_says_why(workdir, free_port):
    # Nothing listens at these URLs: the files are written but nothing reloads them.
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    spec = _spec(workdir, prometheus_url=dead, alertmanager_url=dead)
    with pytest.raises(CommandError, match="slo install exited"):
        slorules.install(spec)


@pytest.mark.unit
def test_a_changed_slo_spec_or_profile_installs_again(workdir):
    from infra.local.codec import to_props
    from infra.local.providers import SloRulesProvider

    provider = SloRulesProvider()
    olds = {**to_props(_spec(workdir)), "running": True}
    assert not provider.diff("slo", olds, to_props(_spec(workdir))).changes
    edited = to_props(_spec(workdir, spec_sha256="0" * 64))
    assert provider.diff("slo", olds, edited).changes
    assert provider.diff("slo", olds, to_props(_spec(workdir, profile="compressed"))).changes
