"""The EHR manager against the real ``chartguard ehr serve`` and a real PostgreSQL pair."""

import httpx
import pytest

from infra.local import ehr
from infra.local import postgres as pg
from infra.local.errors import InvalidSpecError
from infra.local.process import is_running, port_is_bound

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SECRETS = {
    "app_password": "test-app-password",
    "replication_password": "test-repl-password",
    "superuser_password": "test-super-password",
}


def test_primary_serves_writes_and_standby_serves_read_only(workdir, free_port, reaper):
    primary = pg.PostgresSpec(
        name="east", role="primary", host="127.0.0.1", port=free_port("127.0.0.1"),
        data_dir=workdir / "pg-east", log_path=workdir / "logs" / "pg-east.log",
        sync_standbys=("west",), **SECRETS)
    p_state = pg.create(primary)
    reaper.on_teardown(lambda: pg.destroy(p_state, primary.data_dir))
    standby = pg.PostgresSpec(
        name="west", role="standby", host="127.0.0.1", port=free_port("127.0.0.1"),
        data_dir=workdir / "pg-west", log_path=workdir / "logs" / "pg-west.log",
        upstream_host=primary.host, upstream_port=primary.port, **SECRETS)
    s_state = pg.create(standby)
    reaper.on_teardown(lambda: pg.destroy(s_state, standby.data_dir))

    specs = {}
    for db, role in ((primary, "primary"), (standby, "standby")):
        spec = ehr.EhrSpec(
            region=db.name, role=role, host="127.0.0.1", port=free_port("127.0.0.1"),
            workers=1, db_url=pg.app_dsn(db), work_dir=workdir / f"ehr-{db.name}",
            log_path=workdir / "logs" / f"ehr-{db.name}.log")
        state = ehr.start(spec)
        reaper.on_teardown(lambda spec=spec, state=state: ehr.destroy(state, spec))
        specs[role] = (spec, state)

    east, east_state = specs["primary"]
    west, west_state = specs["standby"]
    ready = httpx.get(f"{east.url}/readyz", timeout=5).json()
    assert (ready["role"], ready["region"]) == ("primary", "east")
    ready = httpx.get(f"{west.url}/readyz", timeout=5).json()
    assert (ready["role"], ready["region"]) == ("standby", "west")
    assert ehr.status(west, west_state) == ehr.EhrStatus(True, True, True)

    login = {"email": "owner@practice-0000.test", "password": "chartguard-seed-password"}
    # The primary seeded its empty database; with remote_apply the standby has every row,
    # including the session the primary just started.
    token = httpx.post(f"{east.url}/api/v1/auth/login", json=login, timeout=10).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{west.url}/api/v1/patients", headers=auth, timeout=10)
    assert listed.status_code == 200 and listed.json()["total"] > 0
    write = httpx.post(f"{west.url}/api/v1/patients", headers=auth, timeout=10,
                       json={"given_name": "Test", "family_name": "Patient"})
    assert write.status_code == 503
    assert write.json()["error"] == "read_only"
    metrics = httpx.get(f"{west.url}/metrics", timeout=5).text
    assert "chartguard_replication_lag_seconds" in metrics

    ehr.destroy(east_state, east)
    assert not is_running(east_state.process)
    assert not port_is_bound(east.host, east.port)
    assert not east.work_dir.exists()


@pytest.mark.unit
def test_bad_ehr_specs_are_refused(workdir):
    base = {"region": "east", "role": "primary", "host": "127.0.0.1", "port": 8000,
            "workers": 2, "db_url": "postgresql://u:p@127.0.0.1:5432/d",
            "work_dir": workdir, "log_path": workdir / "l"}
    with pytest.raises(InvalidSpecError, match="workers"):
        ehr.EhrSpec(**{**base, "workers": 0})
    with pytest.raises(InvalidSpecError, match="postgresql"):
        ehr.EhrSpec(**{**base, "db_url": "sqlite:///x.db"})
    with pytest.raises(InvalidSpecError, match="outside loopback"):
        ehr.EhrSpec(**{**base, "host": "0.0.0.0"})
    with pytest.raises(InvalidSpecError, match="primary only"):
        ehr.migrate(ehr.EhrSpec(**{**base, "role": "standby"}))
