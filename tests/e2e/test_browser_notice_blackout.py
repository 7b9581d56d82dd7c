"""Region blackout -> practice banner, in a real browser, through a real router.

Two regions on real processes: PostgreSQL primary (east) and hot standby (west), an EHR
per region reaching its database through a Toxiproxy ``db-<region>`` link, HAProxy in
front reaching each EHR through its ``edge-<region>`` link (east active, west backup,
checks on /readyz), the status service probing both EHRs, and headless Chromium on the
practice page through the router. The fault is chaos's own ``region-blackout`` scenario
(time-scaled): east's edge and database links go dark together, then come back.
Measures the scenario's recorded fault start -> banner visible.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.status.browser import ARTIFACTS, chromium, shot
from tests.monitoring.status.payloads import SEED_PASSWORD, TOKEN
from tests.monitoring.status.servers import (
    PYTHON,
    ROOT,
    ehr_argv,
    free_port,
    kill_group,
    server,
    status_service_argv,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TIME_SCALE = 4  # region-blackout x4: links dark at +5 s for 15 s, scenario ends at +30 s


@pytest.fixture
def two_regions(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from ehr_core import Settings
    from ehr_core.db import make_engine
    from ehr_core.migrate import upgrade
    from ehr_core.seed import seed
    from infra.local import haproxy, toxiproxy
    from tests.support.postgres import PostgresCluster

    with PostgresCluster.start() as east_pg:
        east_pg.create_database("chartguard")
        settings = Settings(db_url=east_pg.url("chartguard"), region="east",
                            seed_password=SEED_PASSWORD,
                            audit_spool_path=str(tmp_path / "spool.jsonl"))
        upgrade(settings)
        engine = make_engine(settings)
        try:
            seed(engine, practices=1, patients=12, seed=1, password=SEED_PASSWORD)
        finally:
            engine.dispose()
        with east_pg.start_standby() as west_pg:
            west_pg.wait_caught_up(east_pg)
            proxy_spec = toxiproxy.ToxiproxySpec(log_path=tmp_path / "toxiproxy.log",
                                                 port=free_port())
            proxy_state = toxiproxy.start(proxy_spec)
            router_spec = None
            router_state = None
            try:
                ports = {name: free_port() for name in
                         ("db-east", "db-west", "edge-east", "edge-west", "ehr-east",
                          "ehr-west", "status", "router", "stats")}
                for region, pg in (("east", east_pg), ("west", west_pg)):
                    toxiproxy.create_link(proxy_spec.api_url, toxiproxy.ProxySpec(
                        name=f"db-{region}", listen_host="127.0.0.1",
                        listen_port=ports[f"db-{region}"], upstream_host="127.0.0.1",
                        upstream_port=pg.port))
                    toxiproxy.create_link(proxy_spec.api_url, toxiproxy.ProxySpec(
                        name=f"edge-{region}", listen_host="127.0.0.1",
                        listen_port=ports[f"edge-{region}"], upstream_host="127.0.0.1",
                        upstream_port=ports[f"ehr-{region}"]))
                status_url = f"http://127.0.0.1:{ports['status']}"
                ehr_urls = {r: f"http://127.0.0.1:{ports[f'ehr-{r}']}" for r in ("east", "west")}
                with server(status_service_argv(port=ports["status"], db=tmp_path / "s.db",
                                                regions=ehr_urls, probe_interval=0.5),
                            ready_url=f"{status_url}/healthz", log=tmp_path / "status.log",
                            env={"CHARTGUARD_STATUS_TOKEN": TOKEN}), \
                        _ehr(tmp_path, "east", ports, status_url), \
                        _ehr(tmp_path, "west", ports, status_url):
                    router_spec = haproxy.RouterSpec(
                        servers=(
                            haproxy.RouterServer(name="east", host="127.0.0.1",
                                                 port=ports["edge-east"]),
                            haproxy.RouterServer(name="west", host="127.0.0.1",
                                                 port=ports["edge-west"], backup=True),
                        ),
                        config_path=tmp_path / "haproxy.cfg", socket_path=tmp_path / "ha.sock",
                        log_path=tmp_path / "haproxy.log", port=ports["router"],
                        stats_port=ports["stats"],
                    )
                    router_state = haproxy.start(router_spec)
                    yield {"router": f"http://127.0.0.1:{ports['router']}",
                           "status": status_url, "toxiproxy": proxy_spec.api_url,
                           "tmp": tmp_path}
            finally:
                if router_state is not None:
                    haproxy.stop_router(router_state, router_spec)
                toxiproxy.stop_server(proxy_state)


def _ehr(tmp_path: Path, region: str, ports: dict[str, int], status_url: str) -> Any:
    dsn = f"postgresql://postgres@127.0.0.1:{ports[f'db-{region}']}/chartguard"
    env = {"CHARTGUARD_DB_URL": dsn, "CHARTGUARD_REGION": region,
           "CHARTGUARD_STATUS_URL": status_url, "CHARTGUARD_SEED_PASSWORD": SEED_PASSWORD,
           "CHARTGUARD_AUDIT_SPOOL_PATH": str(tmp_path / f"spool-{region}.jsonl")}
    port = ports[f"ehr-{region}"]
    return server(ehr_argv(port=port), ready_url=f"http://127.0.0.1:{port}/healthz",
                  log=tmp_path / f"ehr-{region}.log", env=env)


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def test_region_blackout_reaches_the_practice_banner(two_regions: dict[str, Any],
                                                     browser: Any) -> None:
    journal = two_regions["tmp"] / "journal.json"
    context = browser.new_context()
    practice = context.new_page()
    chaos = None
    try:
        practice.goto(f"{two_regions['router']}/practice")
        practice.fill("#email", "owner@practice-0000.test")
        practice.fill("#password", SEED_PASSWORD)
        practice.click("button[type=submit]")
        practice.wait_for_selector("#schedule-rows tr", timeout=20_000)
        assert practice.locator("#notice-banner").is_hidden()

        chaos = subprocess.Popen(
            [PYTHON, "-m", "runbooks.cli", "chaos", "run", "region-blackout",
             "--toxiproxy", two_regions["toxiproxy"], "--var", f"router={two_regions['router']}",
             "--time-scale", str(TIME_SCALE), "--journal", str(journal), "--no-progress"],
            cwd=ROOT, stdout=(two_regions["tmp"] / "chaos.log").open("wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        practice.wait_for_selector("#notice-banner:not([hidden])", timeout=40_000)
        banner_at = time.time()
        banner = practice.inner_text("#notice-banner")
        shot(practice, "blackout-1-practice-banner")
        assert chaos.wait(timeout=90) == 0, (two_regions["tmp"] / "chaos.log").read_text()[-2000:]
        practice.wait_for_selector("#notice-banner", state="hidden", timeout=60_000)
        shot(practice, "blackout-2-practice-recovered")
    finally:
        context.close()
        if chaos is not None:
            kill_group(chaos)
    record = json.loads(journal.read_text())
    fault_start = min(a["started"]["epoch"] for a in record["actions"]
                      if a["action"] == "disable_link")
    seconds = banner_at - fault_start
    assert "read-only" in banner.lower() or "disruption" in banner.lower()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "blackout_latency.json").write_text(json.dumps({
        "region_blackout_to_banner_seconds": round(seconds, 3),
        "banner": banner.splitlines()[0],
        "time_scale": TIME_SCALE,
        "chaos_status": record.get("status"),
    }, indent=2))
    assert 0 < seconds < 30
