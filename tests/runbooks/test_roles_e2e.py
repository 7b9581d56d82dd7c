"""After a migration, the Pulumi stack records the new roles instead of undoing them.

One private stack (own state, project copy and free port offset): ``up``; migrate east
-> west with the runbook (the ``Cutover`` class, as ``chartguard migrate`` runs it); then
``up`` again: no server is restarted (every pid the same as before it), deployment.json
still says west is primary with live pids, and ``preview`` and ``refresh`` find nothing
to change. ``chartguard status`` says who set the roles. A hand-edited roles.json that
contradicts the live databases is refused naming the role, changing nothing. Migrate
back west -> east, ``up`` again: still nothing restarted. ``down`` leaves no process and
no roles.json.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.automation import StackDriver
from infra.errors import StackError
from infra.local.haproxy import runtime_command
from infra.local.settings import LocalSettings
from infra.roles import read_roles, roles_path, write_roles
from infra.sandbox import free_port_offset, private_project
from infra.settings import REPO_ROOT, InfraSettings

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(900)]

# Kept apart from test_stack_e2e's (1013..3990 step 10) and test_local_stack's (4010..9000).
OFFSETS = range(1017, 3990, 10)
CHARTGUARD = Path(sys.executable).parent / "chartguard"
ARTIFACT = REPO_ROOT / "test-artifacts" / "roles_e2e.json"
TIMINGS: dict[str, float] = {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except (ProcessLookupError, OSError):
        return False


def _recorded(deployment: dict[str, Any]) -> dict[str, int]:
    """Every pid deployment.json lists, by ``<region>/<component>`` or service name."""
    pids = {f"{r['name']}/{c}": int(p) for r in deployment["regions"]
            for c, p in (r.get("pids") or {}).items()}
    return {**pids, **{k: int(v) for k, v in (deployment.get("service_pids") or {}).items()}}


def _postmaster(state: Path, region: str) -> int:
    return int((state / "local" / "postgres" / region / "postmaster.pid").read_text().split()[0])


def _live(state: Path) -> dict[str, int]:
    """The pids of the servers that really serve now (whatever any file recorded)."""
    info = runtime_command(state / "local" / "haproxy.sock", "show info")
    router = next(int(ln.split(":")[1]) for ln in info.splitlines() if ln.startswith("Pid:"))
    return {"east/postgres": _postmaster(state, "east"),
            "west/postgres": _postmaster(state, "west"), "router": router}


def _roles(deployment: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["role"] for r in deployment["regions"]}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[InfraSettings, StackDriver, int]]:
    if not (REPO_ROOT / ".tools" / "bin" / "pulumi").exists():
        pytest.skip("Pulumi engine not built (bash scripts/bootstrap.sh tools)")
    offset = free_port_offset(OFFSETS)
    with private_project(port_offset=offset, prefix="cg-roles-") as settings:
        driver = StackDriver(settings=settings, stack="local")
        seen: set[int] = set()
        try:
            driver.up()
            yield settings, driver, offset
        finally:
            path = settings.deployment_path("local")
            if path.exists():
                seen.update(_recorded(json.loads(path.read_text())).values())
            try:
                seen.update(_live(settings.state_dir).values())
            except Exception:  # nothing serves any more: the usual case
                pass
            try:
                driver.down()
            finally:
                for pid in seen:  # last resort when down itself failed
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass


def _migrate(settings: InfraSettings, offset: int, source: str, target: str) -> None:
    from runbooks.local import NO_GATE, Cutover, CutoverOptions, CutoverStatus, LocalCluster

    cluster = LocalCluster.from_deployment(
        settings.deployment_path("local"),
        settings=LocalSettings(state_dir=settings.state_dir, port_offset=offset))
    # No SLO gate, no read shifting and no settling wait: this test is about what the
    # stack records afterwards, not about the cutover's gates.
    runner = Cutover(cluster, gate=NO_GATE, options=CutoverOptions(read_steps=(), settle_s=0.0))
    result = runner.migrate(source, target)
    assert result.status is CutoverStatus.SUCCEEDED, result.reason


def _up_changes_no_server(settings: InfraSettings, driver: StackDriver,
                          primary: str) -> dict[str, Any]:
    """``up``, then check nothing was restarted and the files agree with what runs."""
    state = settings.state_dir
    before_live = _live(state)
    before = _recorded(json.loads(settings.deployment_path("local").read_text()))
    result = driver.up()
    # The roles changed in the state (both databases, both EHRs, the router) and the
    # repl- link moved to the other region, all in place.
    assert result.changes.get("update", 0) >= 5, result.changes
    assert result.changes.get("create") == 1 and result.changes.get("delete") == 1, result.changes
    assert not result.changes.get("replace"), result.changes
    TIMINGS[f"up_after_migrate_to_{primary}_s"] = round(result.duration_s, 1)
    deployment = json.loads(settings.deployment_path("local").read_text())
    standby = next(n for n in ("east", "west") if n != primary)
    assert _roles(deployment) == {primary: "primary", standby: "standby"}
    after = _recorded(deployment)
    assert _live(state) == before_live  # no database or router restarted
    for key, pid in before_live.items():
        assert after[key] == pid, (key, after)  # and deployment.json records them
    for key in ("east/ehr", "west/ehr", "prometheus", "alertmanager", "toxiproxy", "status"):
        assert after[key] == before[key], key  # the rest untouched
    assert all(_alive(pid) for pid in after.values()), after
    repl = {ln["name"]: ln["upstream"] for ln in deployment["links"]
            if ln["name"].startswith("repl-")}
    primary_address = {"east": "127.0.1.1", "west": "127.0.2.1"}[primary]
    assert list(repl) == [f"repl-{standby}"] and repl[f"repl-{standby}"].startswith(
        f"{primary_address}:")
    ready = httpx.get(f"{deployment['router']}/readyz", timeout=10).json()
    assert (ready["region"], ready["role"]) == (primary, "primary"), ready
    return deployment


def _state_processes(driver: StackDriver) -> dict[str, tuple[Any, Any]]:
    """Resource name -> (pid, running) as the Pulumi state records them."""
    exported = driver._workspace_stack().export_stack().deployment
    return {r["urn"].rsplit("::", 1)[-1]: (r["outputs"].get("pid"), r["outputs"].get("running"))
            for r in exported["resources"] if "pid" in (r.get("outputs") or {})}


def test_up_after_a_migration_keeps_the_new_roles_and_every_server(stack) -> None:
    settings, driver, offset = stack
    state = settings.state_dir
    _migrate(settings, offset, "east", "west")
    recorded = read_roles(roles_path(state / "local"), stack="local")
    assert recorded is not None and recorded.primary == "west"

    # refresh before any up: the router the runbook reloaded is found, not dead; east's
    # rebuilt database runs as a standby while the state still says primary, so it is
    # not recorded by a refresh (up checks it against the roles first).
    assert driver.refresh().changed
    live = _live(state)
    processes = _state_processes(driver)
    assert processes["haproxy"] == (live["router"], True), processes
    assert processes["postgres-east"][1] is False, processes

    _up_changes_no_server(settings, driver, "west")
    assert not driver.preview().changed
    refreshed = driver.refresh()
    assert not refreshed.changed, refreshed.changes

    env = {**os.environ, "CHARTGUARD_STATE_DIR": str(state),
           "CHARTGUARD_PROJECT_DIR": str(settings.project_dir)}
    status = subprocess.run([str(CHARTGUARD), "status"], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert "roles set by runbook at" in status.stderr, status.stderr[-2000:]
    assert "stack config says east primary" in status.stderr


def test_roles_that_contradict_the_live_databases_are_refused(stack) -> None:
    settings, driver, _ = stack
    path = roles_path(settings.state_dir / "local")
    good = read_roles(path, stack="local")
    assert good is not None and good.primary == "west"
    before = _live(settings.state_dir)
    write_roles(path, {"east": "primary", "west": "standby"}, stack="local", set_by="hand")
    try:
        with pytest.raises(StackError, match="role cannot change to (primary|standby) in place"):
            driver.preview()
    finally:
        write_roles(path, good.roles, stack="local", set_by=good.set_by)
    assert _live(settings.state_dir) == before
    assert not driver.preview().changed


def test_migrating_back_and_up_again_restarts_nothing(stack) -> None:
    settings, driver, offset = stack
    _migrate(settings, offset, "west", "east")
    _up_changes_no_server(settings, driver, "east")
    assert not driver.preview().changed


def test_down_leaves_no_process_and_no_roles(stack) -> None:
    settings, driver, _ = stack
    deployment = json.loads(settings.deployment_path("local").read_text())
    pids = {**_recorded(deployment), **_live(settings.state_dir)}
    TIMINGS["down_s"] = round(driver.down().duration_s, 1)
    assert not [k for k, pid in pids.items() if _alive(pid)]
    assert not roles_path(settings.state_dir / "local").exists()
    assert not settings.deployment_path("local").exists()
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(TIMINGS, indent=2) + "\n")
