"""The whole local plan, created and deleted through the dynamic providers in dependency
order (what the Pulumi engine does in ``chartguard up``/``down``, without the engine), on
a private port offset and state folder so it never meets a running ``local`` stack."""

import json
import random
import time

import httpx
import pytest

from infra.local.codec import to_props
from infra.local.plan import plan
from infra.local.process import ProcessHandle, is_running, port_is_bound, stop
from infra.local.providers import (
    AlertmanagerProvider,
    EhrProvider,
    PostgresProvider,
    PrometheusProvider,
    RouterProvider,
    SloRulesProvider,
    StatusServiceProvider,
    ToxiproxyLinkProvider,
    ToxiproxyServerProvider,
)
from infra.local.settings import LocalSettings
from infra.topology import Topology

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

LOGIN = {"email": "owner@practice-0000.test", "password": "chartguard-seed-password"}


def listeners(p):
    yield p.toxiproxy.host, p.toxiproxy.port
    yield from ((link.listen_host, link.listen_port) for link in p.links)
    yield from ((db.host, db.port) for db in p.databases)
    yield from ((e.host, e.port) for e in p.ehrs)
    yield p.router.host, p.router.port
    yield p.router.stats_host, p.router.stats_port
    yield p.prometheus.host, p.prometheus.port
    yield p.alertmanager.host, p.alertmanager.port
    yield p.status.host, p.status.port


def private_plan(workdir, toxiproxy_bin):
    settings = LocalSettings(state_dir=workdir / "state", tools_bin_dir=toxiproxy_bin.parent)
    for _ in range(20):
        offset = random.randrange(4010, 9000, 10)  # 1013..3990: the engine e2e test and bench_stack
        p = plan(Topology.from_config({}, stack="e2e").with_port_offset(offset), settings=settings)
        if not any(port_is_bound(h, port) for h, port in listeners(p)):
            return p
    pytest.fail("no free port offset found")


def test_local_plan_up_failover_down(workdir, toxiproxy_bin, reaper):
    p = private_plan(workdir, toxiproxy_bin)
    made = []

    def create(provider, spec, **extra):
        result = provider.create(json.loads(json.dumps({**to_props(spec), **extra})))
        made.append((provider, result.id, result.outs))
        return result.outs

    def down():
        while made:
            provider, id_, outs = made.pop()
            provider.delete(id_, json.loads(json.dumps(outs)))

    reaper.on_teardown(down)
    started = time.monotonic()
    server = create(ToxiproxyServerProvider(), p.toxiproxy)
    for link in p.links:
        create(ToxiproxyLinkProvider(), link, server_pid=server["pid"])
    for db in p.databases:
        create(PostgresProvider(), db)
    ehrs = {e.region: create(EhrProvider(), e) for e in p.ehrs}
    create(RouterProvider(), p.router)
    create(AlertmanagerProvider(), p.alertmanager)
    create(PrometheusProvider(), p.prometheus)
    create(SloRulesProvider(), p.slo_rules)
    create(StatusServiceProvider(), p.status)
    up_seconds = time.monotonic() - started

    router = f"http://{p.router.host}:{p.router.port}"
    auth = httpx.post(f"{router}/api/v1/auth/login", json=LOGIN, timeout=10).json()
    headers = {"Authorization": f"Bearer {auth['token']}"}
    first = httpx.get(f"{router}/api/v1/patients", headers=headers, timeout=10)
    assert first.status_code == 200 and first.headers["X-Chartguard-Region"] == "east"

    # Stop the primary region's EHR: the router serves reads from west within seconds.
    east = ehrs["east"]
    failed_at = time.monotonic()
    stop(ProcessHandle(pid=int(east["pid"]), start_time=int(east["start_time"])))
    served = None
    while time.monotonic() - failed_at < 15:
        try:
            served = httpx.get(f"{router}/api/v1/patients", headers=headers, timeout=2)
            if served.status_code == 200 and served.headers["X-Chartguard-Region"] == "west":
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    failover_seconds = time.monotonic() - failed_at
    assert served is not None and served.headers["X-Chartguard-Region"] == "west"
    assert failover_seconds < 10
    write = httpx.post(f"{router}/api/v1/patients", headers=headers, timeout=10,
                       json={"given_name": "Test", "family_name": "Patient"})
    assert (write.status_code, write.json()["error"]) == (503, "read_only")

    query = f"http://{p.prometheus.host}:{p.prometheus.port}/api/v1/query"
    deadline = time.monotonic() + 20
    jobs: dict[str, str] = {}
    while time.monotonic() < deadline and jobs.get("router") != "1":
        data = httpx.get(query, params={"query": "up"}, timeout=5).json()["data"]["result"]
        jobs = {r["metric"]["job"]: r["value"][1] for r in data}
        time.sleep(0.5)
    assert jobs.get("router") == "1", jobs
    rules = httpx.get(f"{p.prometheus.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert any(r["name"].startswith("slo:") for g in rules for r in g["rules"])
    summary = httpx.get(f"{p.status.url}/api/v1/summary", timeout=5)
    assert summary.status_code == 200, summary.text

    pids = [int(outs["pid"]) for _, _, outs in made if outs.get("pid")]
    handles = [ProcessHandle(pid=int(o["pid"]), start_time=int(o["start_time"]))
               for _, _, o in made if o.get("pid")]
    down()
    assert not any(is_running(h) for h in handles), pids
    assert not any(port_is_bound(h, port) for h, port in listeners(p))
    assert not (p.stack_dir / "postgres").exists()
    assert not any((p.stack_dir / f"ehr-{e.region}").exists() for e in p.ehrs)
    assert not p.status.work_dir.exists() and not p.slo_rules.rules_path.exists()
    print(f"up {up_seconds:.1f}s, failover to west reads {failover_seconds:.2f}s")
