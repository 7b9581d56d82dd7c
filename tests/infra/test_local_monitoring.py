"""Prometheus and Alertmanager against the real Debian binaries."""

import time

import httpx
import pytest
import yaml

from infra.local import alertmanager, prometheus
from infra.local.errors import InvalidSpecError
from infra.local.process import is_running, port_is_bound

pytestmark = pytest.mark.integration

RULE = """groups:
- name: chartguard-test
  rules:
  - record: chartguard:test_up
    expr: sum(up)
"""


def up_targets(url):
    data = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=5).json()
    return {r["metric"]["job"]: r["value"][1] for r in data["data"]["result"]}


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def test_prometheus_scrapes_generated_targets_and_alertmanager_is_ready(
    workdir, free_port, reaper
):
    am_spec = alertmanager.AlertmanagerSpec(
        config_path=workdir / "alertmanager" / "alertmanager.yml",
        data_dir=workdir / "alertmanager" / "data",
        log_path=workdir / "logs" / "alertmanager.log",
        port=free_port("127.0.0.1"),
    )
    am_state = alertmanager.start(am_spec)
    reaper.on_teardown(lambda: alertmanager.destroy(am_state, am_spec))
    assert httpx.get(f"{am_spec.url}/-/ready", timeout=5).status_code == 200
    written = yaml.safe_load(am_spec.config_path.read_text())
    hook = written["receivers"][0]["webhook_configs"][0]["url"]
    assert hook == "http://127.0.0.1:8090/api/v1/alerts/webhook"

    port = free_port("127.0.0.1")
    rules_dir = workdir / "prometheus" / "rules"
    rules_dir.mkdir(parents=True)
    (rules_dir / "test.yml").write_text(RULE)
    spec = prometheus.PrometheusSpec(
        config_path=workdir / "prometheus" / "prometheus.yml",
        data_dir=workdir / "prometheus" / "data",
        rules_dir=rules_dir,
        log_path=workdir / "logs" / "prometheus.log",
        port=port,
        scrape_interval="1s",
        evaluation_interval="1s",
        alertmanagers=(f"127.0.0.1:{am_spec.port}",),
        jobs=(prometheus.ScrapeJob(name="prometheus", targets=(f"127.0.0.1:{port}",)),),
    )
    state = prometheus.start(spec)
    reaper.on_teardown(lambda: prometheus.destroy(state, spec))
    assert wait_for(lambda: up_targets(spec.url).get("prometheus") == "1", 15)

    rules = httpx.get(f"{spec.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert [g["name"] for g in rules] == ["chartguard-test"]
    ams = httpx.get(f"{spec.url}/api/v1/alertmanagers", timeout=5).json()["data"]
    assert wait_for(
        lambda: httpx.get(f"{spec.url}/api/v1/alertmanagers", timeout=5)
        .json()["data"]["activeAlertmanagers"], 10), ams

    # Add a job: a hot reload, same process.
    with_am = prometheus.PrometheusSpec(**{
        **spec.__dict__,
        "jobs": (*spec.jobs, prometheus.ScrapeJob(
            name="alertmanager", targets=(f"127.0.0.1:{am_spec.port}",),
            labels=((f"127.0.0.1:{am_spec.port}", "global"),))),
    })
    new_state = prometheus.reconfigure(spec, with_am, state)
    assert new_state == state
    assert wait_for(lambda: up_targets(spec.url).get("alertmanager") == "1", 15)
    assert prometheus.status(with_am, new_state)

    prometheus.destroy(state, spec)
    alertmanager.destroy(am_state, am_spec)
    assert not is_running(state.process) and not is_running(am_state.process)
    assert not port_is_bound("127.0.0.1", port)
    assert not port_is_bound("127.0.0.1", am_spec.port)
    assert not spec.data_dir.exists() and not am_spec.data_dir.exists()


def test_existing_alertmanager_config_is_kept(workdir, free_port, reaper):
    config = workdir / "am.yml"
    config.write_text("route:\n  receiver: mine\nreceivers:\n- name: mine\n")
    spec = alertmanager.AlertmanagerSpec(config_path=config, data_dir=workdir / "amd",
                                         log_path=workdir / "am.log",
                                         port=free_port("127.0.0.1"))
    state = alertmanager.start(spec)
    reaper.on_teardown(lambda: alertmanager.destroy(state, spec))
    assert "receiver: mine" in config.read_text()
    alertmanager.reload_config(spec)
    assert alertmanager.status(spec, state)


@pytest.mark.unit
def test_scrape_targets_off_loopback_are_refused():
    with pytest.raises(InvalidSpecError, match="outside loopback"):
        prometheus.ScrapeJob(name="ehr", targets=("10.0.0.5:8000",))
    with pytest.raises(InvalidSpecError, match="not a valid job name"):
        prometheus.ScrapeJob(name="bad job", targets=())


def test_a_chaos_run_listed_for_discovery_is_scraped_and_dropped(workdir, free_port, reaper):
    """The stack's Prometheus finds a running chaos run's fault gauge by file discovery and
    forgets it once the run removes its listing."""
    from prometheus_client import CollectorRegistry

    from chaos.metrics import FaultGauge
    from chaos.scrape import list_run

    port = free_port("127.0.0.1")
    spec = prometheus.PrometheusSpec(
        config_path=workdir / "prometheus" / "prometheus.yml",
        data_dir=workdir / "prometheus" / "data",
        rules_dir=workdir / "prometheus" / "rules",
        log_path=workdir / "logs" / "prometheus.log",
        port=port, scrape_interval="1s", evaluation_interval="1s",
        jobs=(prometheus.ScrapeJob(name="prometheus", targets=(f"127.0.0.1:{port}",)),),
        discovery_dir=workdir / "prometheus" / "targets", discovered_jobs=("chaos",),
    )  # fmt: skip
    state = prometheus.start(spec)
    reaper.on_teardown(lambda: prometheus.destroy(state, spec))
    assert spec.discovery_dir is not None and spec.discovery_dir.is_dir()
    gauge = FaultGauge(registry=CollectorRegistry())
    bound = gauge.serve(0)
    reaper.on_teardown(gauge.close)
    gauge.set(scenario="mini", link="edge-east", toxic="slow", active=True)

    def fault_active() -> list[dict]:
        answer = httpx.get(f"{spec.url}/api/v1/query", timeout=5,
                           params={"query": "chartguard_chaos_fault_active"}).json()
        return answer["data"]["result"]

    with list_run(spec.discovery_dir, run_id="r1", address=f"127.0.0.1:{bound}",
                  scenario="mini") as listing:
        assert listing.path.name == "chaos-r1.json"
        assert wait_for(lambda: up_targets(spec.url).get("chaos") == "1", 30)
        assert wait_for(lambda: [r["value"][1] for r in fault_active()] == ["1"], 10)
        labels = fault_active()[0]["metric"]
        assert (labels["chaos_run"], labels["link"], labels["toxic"]) == ("r1", "edge-east", "slow")
    assert not listing.path.exists()
    assert wait_for(lambda: "chaos" not in up_targets(spec.url), 30)


@pytest.mark.unit
def test_discovered_jobs_need_a_folder_and_valid_names(tmp_path):
    base = dict(config_path=tmp_path / "p.yml", data_dir=tmp_path / "d", rules_dir=tmp_path / "r",
                log_path=tmp_path / "l", jobs=())
    with pytest.raises(InvalidSpecError, match="need a discovery_dir"):
        prometheus.PrometheusSpec(**base, discovered_jobs=("chaos",))
    with pytest.raises(InvalidSpecError, match="not a valid job name"):
        prometheus.PrometheusSpec(**base, discovery_dir=tmp_path, discovered_jobs=("Bad Job",))
    spec = prometheus.PrometheusSpec(**base, discovery_dir=tmp_path / "t",
                                     discovered_jobs=("chaos",))
    [job] = yaml.safe_load(prometheus.render_config(spec))["scrape_configs"]
    assert job == {"job_name": "chaos", "file_sd_configs": [
        {"files": [str(tmp_path / "t" / "chaos-*.json")], "refresh_interval": "5s"}]}
