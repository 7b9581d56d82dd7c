"""What a deployed stack looks like right now, from its ``deployment.json``.

:func:`stack_status` reads ``.state/<stack>/deployment.json`` and probes every
component: each region's EHR (``GET <ehr_url>/readyz``: its role and replication lag),
its PostgreSQL (``pg_is_in_recovery()`` over its DSN), whether each recorded pid is
alive, and the global services. Probes are short and bounded; nothing is changed.
No probe result carries PHI (only roles, states and numbers).
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from infra.errors import InfraError

__all__ = ["ComponentStatus", "Health", "StackStatus", "stack_status", "load_deployment"]

PROBE_TIMEOUT_S = 2.0


class Health(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class ComponentStatus:
    """One component of one region (or of the global services)."""

    region: str
    component: str
    role: str
    health: Health
    address: str
    pid: int | None
    pid_alive: bool | None
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class StackStatus:
    stack: str
    deployment_path: Path
    components: tuple[ComponentStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(c.health is Health.UP for c in self.components)


def load_deployment(path: Path) -> dict[str, Any]:
    """The parsed deployment file; :class:`InfraError` if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InfraError(f"{path}: not found (is the stack up? run: chartguard up)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise InfraError(f"{path}: cannot read the deployment file: {e}") from e
    if not isinstance(data, dict) or "regions" not in data:
        raise InfraError(f"{path}: not a chartguard deployment file (no 'regions')")
    return data


def _pid_alive(pid: int | None) -> bool | None:
    """True if ``pid`` runs; a zombie (killed, not yet reaped) counts as dead."""
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _probe_http(client: httpx.Client, url: str) -> tuple[Health, str, dict[str, Any]]:
    try:
        response = client.get(url)
    except httpx.HTTPError as e:
        return Health.DOWN, type(e).__name__, {}
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        body = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        pass
    health = Health.UP if response.status_code == 200 else Health.DOWN
    return health, f"HTTP {response.status_code}", body


def _probe_postgres(dsn: str | None) -> tuple[Health, str, str]:
    """(health, detail, role) of a PostgreSQL server reached over ``dsn``."""
    if not dsn:
        return Health.UNKNOWN, "no DSN", "?"
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=int(PROBE_TIMEOUT_S)) as conn:
            row = conn.execute("select pg_is_in_recovery()").fetchone()
    except psycopg.Error as e:
        # The driver's message can echo the DSN's host but never data; keep only its class.
        return Health.DOWN, type(e).__name__, "?"
    role = "standby" if row and row[0] else "primary"
    return Health.UP, "accepting connections", role


def _host_port(dsn: str | None) -> str:
    if not dsn:
        return "-"
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(dsn)
    return f"{info.get('host', '?')}:{info.get('port', 5432)}"


def stack_status(
    deployment_path: Path, *, stack: str, client: httpx.Client | None = None
) -> StackStatus:
    """Probe every component listed in ``deployment_path``."""
    deployment = load_deployment(deployment_path)
    own_client = client is None
    http = client or httpx.Client(timeout=PROBE_TIMEOUT_S)
    components: list[ComponentStatus] = []
    try:
        for region in deployment["regions"]:
            components.extend(_region_status(http, region))
        pids: Mapping[str, int] = deployment.get("service_pids") or {}
        for name, key, path in (
            ("router", "router", "/"),
            ("router-metrics", "router_metrics", ""),
            ("toxiproxy", "toxiproxy", "/version"),
            ("prometheus", "prometheus", "/-/ready"),
            ("alertmanager", "alertmanager", "/-/ready"),
            ("status", "status", "/healthz"),
        ):
            url = deployment.get(key)
            if not url:
                continue
            health, detail, _ = _probe_http(http, f"{url}{path}")
            if name == "router" and detail.startswith("HTTP"):
                health = Health.UP  # any HTTP answer means the router itself is serving
            pid = pids.get(name)
            components.append(
                ComponentStatus(
                    region="global", component=name, role="-", health=health,
                    address=url, pid=pid, pid_alive=_pid_alive(pid), detail=detail,
                )
            )
    finally:
        if own_client:
            http.close()
    return StackStatus(
        stack=stack, deployment_path=deployment_path, components=tuple(components)
    )


def _region_status(http: httpx.Client, region: Mapping[str, Any]) -> list[ComponentStatus]:
    name = region["name"]
    pids: Mapping[str, int] = region.get("pids") or {}
    health, detail, body = _probe_http(http, f"{region['ehr_url']}/readyz")
    lag = body.get("replication_lag_seconds")
    if isinstance(lag, int | float):
        detail = f"{detail}, lag {lag:.1f}s"
    ehr_pid = pids.get("ehr")
    out = [
        ComponentStatus(
            region=name, component="ehr", role=str(body.get("role", region["role"])),
            health=health, address=region["ehr_url"], pid=ehr_pid,
            pid_alive=_pid_alive(ehr_pid), detail=detail,
        )
    ]
    pg_health, pg_detail, pg_role = _probe_postgres(region.get("dsn"))
    pg_pid = pids.get("postgres")
    out.append(
        ComponentStatus(
            region=name, component="postgres", role=pg_role if pg_role != "?" else region["role"],
            health=pg_health, address=_host_port(region.get("dsn")), pid=pg_pid,
            pid_alive=_pid_alive(pg_pid), detail=pg_detail,
        )
    )
    for component, pid in pids.items():
        if component not in ("ehr", "postgres"):
            alive = _pid_alive(pid)
            out.append(
                ComponentStatus(
                    region=name, component=component, role="-",
                    health=Health.UP if alive else Health.DOWN, address="-", pid=pid,
                    pid_alive=alive, detail="process",
                )
            )
    return out
