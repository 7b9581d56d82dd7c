"""The local target's Pulumi dynamic resources, one per kind, built from a spec.

Each resource's inputs are its spec's fields (secrets wrapped as Pulumi secrets, so
they are encrypted in state); its outputs add ``pid``, ``start_time`` and ``running``.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from infra.local import (
    alertmanager,
    ehr,
    haproxy,
    postgres,
    prometheus,
    slorules,
    statuspage,
    toxiproxy,
)
from infra.local.codec import to_props
from infra.local.provider import OUTPUT_KEYS
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

__all__ = [
    "PostgresServer",
    "ToxiproxyServer",
    "ToxiproxyLink",
    "EhrServer",
    "HaproxyRouter",
    "PrometheusServer",
    "AlertmanagerServer",
    "StatusServer",
    "SloRules",
]

_MODULE = "chartguard-local"


def _props(spec: Any, *, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    props: dict[str, Any] = to_props(spec)
    for key in secrets:
        props[key] = pulumi.Output.secret(props[key])
    # Declared as None so the outputs can be read as attributes.
    return {**props, **{key: None for key in OUTPUT_KEYS}}


class PostgresServer(Resource, module=_MODULE, name="PostgresServer"):
    """A PostgreSQL server (primary or streaming standby) with its data dir."""

    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: postgres.PostgresSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        secrets = ("app_password", "replication_password", "superuser_password")
        super().__init__(PostgresProvider(), name, _props(spec, secrets=secrets), opts)


class ToxiproxyServer(Resource, module=_MODULE, name="ToxiproxyServer"):
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: toxiproxy.ToxiproxySpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ToxiproxyServerProvider(), name, _props(spec), opts)


class ToxiproxyLink(Resource, module=_MODULE, name="ToxiproxyLink"):
    """A proxy in the Toxiproxy server ``server``.

    The server's pid is one of its inputs: proxies live in the server's memory, so when
    the server is restarted (a new pid) every link differs and is created again.
    """

    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: toxiproxy.LinkSpec, server: ToxiproxyServer,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {**_props(spec), "server_pid": server.pid}
        super().__init__(ToxiproxyLinkProvider(), name, props, opts)


class EhrServer(Resource, module=_MODULE, name="EhrServer"):
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: ehr.EhrSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(EhrProvider(), name, _props(spec, secrets=("db_url",)), opts)


class HaproxyRouter(Resource, module=_MODULE, name="HaproxyRouter"):
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: haproxy.RouterSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(RouterProvider(), name, _props(spec), opts)


class PrometheusServer(Resource, module=_MODULE, name="PrometheusServer"):
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: prometheus.PrometheusSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(PrometheusProvider(), name, _props(spec), opts)


class AlertmanagerServer(Resource, module=_MODULE, name="AlertmanagerServer"):
    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: alertmanager.AlertmanagerSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(AlertmanagerProvider(), name, _props(spec), opts)


class StatusServer(Resource, module=_MODULE, name="StatusServer"):
    """The status service; its SRE token is a secret input (encrypted in state)."""

    pid: pulumi.Output[int]
    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: statuspage.StatusServiceSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(StatusServiceProvider(), name, _props(spec, secrets=("token",)), opts)


class SloRules(Resource, module=_MODULE, name="SloRules"):
    """chartguard's SLO rules and Alertmanager routes, installed into the running servers."""

    running: pulumi.Output[bool]

    def __init__(self, name: str, spec: slorules.SloRulesSpec,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(SloRulesProvider(), name, _props(spec), opts)
