"""The status service as a stack process: the real ``chartguard statuspage serve``."""

import json
import time

import httpx
import pytest

from infra.local import statuspage
from infra.local.errors import InvalidSpecError
from infra.local.process import is_running, port_is_bound
from infra.local.statuspage import LOCAL_DEFAULT_STATUS_TOKEN, resolve_token

pytestmark = pytest.mark.integration

PRIVATE_TOKEN = "a-private-status-token-for-tests"


@pytest.mark.unit
def test_the_default_token_serves_the_local_stack_only():
    assert resolve_token("local", None) == LOCAL_DEFAULT_STATUS_TOKEN
    assert resolve_token("local", PRIVATE_TOKEN) == PRIVATE_TOKEN
    assert resolve_token("staging", PRIVATE_TOKEN) == PRIVATE_TOKEN
    with pytest.raises(InvalidSpecError, match="set chartguard:statusToken"):
        resolve_token("staging", None)
    with pytest.raises(InvalidSpecError, match="documented local default"):
        resolve_token("staging", LOCAL_DEFAULT_STATUS_TOKEN)
    with pytest.raises(InvalidSpecError, match="at least 24"):
        resolve_token("staging", "short")


@pytest.mark.unit
def test_spec_keeps_the_token_off_the_command_line(tmp_path):
    spec = statuspage.StatusServiceSpec(
        stack="local", state_dir=tmp_path, work_dir=tmp_path / "local" / "status",
        log_path=tmp_path / "status.log", port=9999, prometheus_url="http://127.0.0.1:9090",
        token=PRIVATE_TOKEN)
    assert PRIVATE_TOKEN not in " ".join(spec.argv()) and PRIVATE_TOKEN not in repr(spec)
    assert spec.env()["CHARTGUARD_STATUS_TOKEN"] == PRIVATE_TOKEN
    assert spec.argv()[-2:] == ["--prometheus-url", "http://127.0.0.1:9090"]
    with pytest.raises(InvalidSpecError, match="outside loopback"):
        statuspage.StatusServiceSpec(stack="local", state_dir=tmp_path, work_dir=tmp_path,
                                     log_path=tmp_path / "s.log", host="10.1.2.3")
    with pytest.raises(InvalidSpecError, match="outside loopback"):
        statuspage.StatusServiceSpec(stack="local", state_dir=tmp_path, work_dir=tmp_path,
                                     log_path=tmp_path / "s.log",
                                     prometheus_url="http://10.0.0.1:9090")
    with pytest.raises(InvalidSpecError, match="empty"):
        statuspage.StatusServiceSpec(stack="local", state_dir=tmp_path, work_dir=tmp_path,
                                     log_path=tmp_path / "s.log", token="")


def test_status_service_probes_the_deployment_and_stops_clean(workdir, free_port, reaper):
    dead_port = free_port("127.0.0.1")  # no EHR listens here: its app is an outage
    deployment = workdir / "state" / "cg" / "deployment.json"
    deployment.parent.mkdir(parents=True)
    deployment.write_text(json.dumps({"regions": [
        {"name": "east", "role": "primary", "ehr_url": f"http://127.0.0.1:{dead_port}"}]}))
    spec = statuspage.StatusServiceSpec(
        stack="cg", state_dir=workdir / "state", work_dir=workdir / "state" / "cg" / "status",
        log_path=workdir / "logs" / "status.log", port=free_port("127.0.0.1"),
        token=PRIVATE_TOKEN, probe_interval=0.5)
    state = statuspage.start(spec)
    reaper.on_teardown(lambda: statuspage.destroy(state, spec))
    assert statuspage.status(spec, state)
    assert spec.db_path.is_file()

    def east_app() -> str | None:
        summary = httpx.get(f"{spec.url}/api/v1/summary", timeout=5).json()
        comps = {c["component"]: c["state"] for c in summary["regions"].get("east", [])}
        return comps.get("app")

    start = time.monotonic()
    while east_app() != "major_outage" and time.monotonic() - start < 30:
        time.sleep(0.3)
    assert east_app() == "major_outage"

    # The SRE token from the environment guards writes.
    body = {"state": "under_maintenance", "message": "planned"}
    wrong = httpx.put(f"{spec.url}/api/v1/components/east/database", json=body,
                      headers={"Authorization": "Bearer not-the-token"}, timeout=5)
    assert wrong.status_code in (401, 403)
    right = httpx.put(f"{spec.url}/api/v1/components/east/database", json=body,
                      headers={"Authorization": f"Bearer {PRIVATE_TOKEN}"}, timeout=5)
    assert right.status_code == 200, right.text

    statuspage.destroy(state, spec)
    assert not is_running(state.process)
    assert not port_is_bound(spec.host, spec.port)
    assert not spec.work_dir.exists()


def test_provider_revives_a_killed_status_service_on_its_database(workdir, free_port, reaper):
    from test_local_providers import as_pulumi, kill

    from infra.local.codec import to_props
    from infra.local.providers import StatusServiceProvider

    provider = StatusServiceProvider()
    spec = statuspage.StatusServiceSpec(
        stack="local", state_dir=workdir / "state", work_dir=workdir / "status",
        log_path=workdir / "status.log", port=free_port("127.0.0.1"))
    inputs = as_pulumi(to_props(spec))
    created = provider.create(inputs)
    outs = as_pulumi(created.outs)
    reaper.on_teardown(lambda: provider.delete(created.id, outs))
    assert provider.diff(created.id, outs, inputs).changes is False

    kill(outs)
    dead = as_pulumi(provider.read(created.id, outs).outs)
    assert dead["running"] is False
    assert provider.diff(created.id, dead, inputs).changes is True
    revived = as_pulumi(provider.update(created.id, dead, inputs).outs)
    outs = revived
    assert revived["pid"] != dead["pid"] and spec.db_path.is_file()
    assert httpx.get(f"{spec.url}/healthz", timeout=5).status_code == 200

    provider.delete(created.id, revived)
    assert not port_is_bound(spec.host, spec.port) and not spec.work_dir.exists()
