"""One dynamic provider per kind of local resource, each a thin adapter over its manager."""

from __future__ import annotations

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
from infra.local.errors import CommandError
from infra.local.process import ProcessHandle, is_running, stop
from infra.local.provider import ManagedProvider

__all__ = [
    "PostgresProvider",
    "ToxiproxyServerProvider",
    "ToxiproxyLinkProvider",
    "EhrProvider",
    "RouterProvider",
    "PrometheusProvider",
    "AlertmanagerProvider",
    "StatusServiceProvider",
    "SloRulesProvider",
]


def _running(handle: ProcessHandle | None) -> bool:
    return handle is not None and is_running(handle)


def _live(handle: ProcessHandle | None) -> ProcessHandle | None:
    """``handle`` if its process runs; else None, after sweeping what it left in its group.

    Children of a killed server (PostgreSQL backends, gunicorn workers) can outlive it
    and keep its port or shared memory; they must go before it starts again.
    """
    if handle is None or is_running(handle):
        return handle
    stop(handle, timeout=5)
    return None


class PostgresProvider(ManagedProvider[postgres.PostgresSpec]):
    spec_type = postgres.PostgresSpec
    # Replacing a database server would wipe its data dir: refuse rather than lose data.
    refused_keys = ("name", "role", "data_dir", "app_user", "app_database", "replication_user")

    def resource_id(self, spec: postgres.PostgresSpec) -> str:
        return f"postgres-{spec.name}"

    def _state(self, spec: postgres.PostgresSpec, handle: ProcessHandle) -> postgres.PostgresState:
        return postgres.PostgresState(process=handle, data_dir=spec.data_dir, host=spec.host,
                                      port=spec.port)

    def start(self, spec: postgres.PostgresSpec) -> ProcessHandle:
        return postgres.create(spec).process

    def alive(self, spec: postgres.PostgresSpec, handle: ProcessHandle | None) -> bool:
        return _running(handle)

    def reconfigure(self, old: postgres.PostgresSpec, new: postgres.PostgresSpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is None:
            return postgres.start(new).process  # adopt the existing data dir
        return postgres.reconfigure(old, new, self._state(old, live)).process

    def remove(self, spec: postgres.PostgresSpec, handle: ProcessHandle | None) -> None:
        postgres.destroy(self._state(spec, handle) if handle else None, spec.data_dir)


class ToxiproxyServerProvider(ManagedProvider[toxiproxy.ToxiproxySpec]):
    spec_type = toxiproxy.ToxiproxySpec
    replace_keys = ("host", "port")

    def resource_id(self, spec: toxiproxy.ToxiproxySpec) -> str:
        return f"toxiproxy-{spec.host}:{spec.port}"

    def start(self, spec: toxiproxy.ToxiproxySpec) -> ProcessHandle:
        return toxiproxy.start(spec).process

    def alive(self, spec: toxiproxy.ToxiproxySpec, handle: ProcessHandle | None) -> bool:
        return _running(handle)

    def reconfigure(self, old: toxiproxy.ToxiproxySpec, new: toxiproxy.ToxiproxySpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is not None:
            toxiproxy.stop_server(toxiproxy.ToxiproxyState(process=live))
        return toxiproxy.start(new).process

    def remove(self, spec: toxiproxy.ToxiproxySpec, handle: ProcessHandle | None) -> None:
        if handle is not None:
            toxiproxy.stop_server(toxiproxy.ToxiproxyState(process=handle))


class ToxiproxyLinkProvider(ManagedProvider[toxiproxy.LinkSpec]):
    """A proxy inside the Toxiproxy server at ``api_url`` (it has no process of its own)."""

    spec_type = toxiproxy.LinkSpec
    replace_keys = ("api_url", "name")

    def resource_id(self, spec: toxiproxy.LinkSpec) -> str:
        return spec.name

    def start(self, spec: toxiproxy.LinkSpec) -> None:
        admin = toxiproxy.ToxiproxyAdmin(spec.api_url)
        if admin.get_proxy(spec.name) is not None:
            admin.update_proxy(spec.proxy)  # a leftover of an interrupted run: adopt it
        else:
            admin.create_proxy(spec.proxy)
        return None

    def alive(self, spec: toxiproxy.LinkSpec, handle: ProcessHandle | None) -> bool:
        try:
            return toxiproxy.ToxiproxyAdmin(spec.api_url).get_proxy(spec.name) is not None
        except CommandError:
            return False

    def reconfigure(self, old: toxiproxy.LinkSpec, new: toxiproxy.LinkSpec,
                    handle: ProcessHandle | None) -> None:
        return self.start(new)

    def remove(self, spec: toxiproxy.LinkSpec, handle: ProcessHandle | None) -> None:
        try:
            toxiproxy.ToxiproxyAdmin(spec.api_url).delete_proxy(spec.name)
        except CommandError:
            # The server is gone, and its in-memory proxies with it.
            if self.alive(spec, None):
                raise


class EhrProvider(ManagedProvider[ehr.EhrSpec]):
    spec_type = ehr.EhrSpec
    replace_keys = ("region", "work_dir")

    def resource_id(self, spec: ehr.EhrSpec) -> str:
        return f"ehr-{spec.region}"

    def start(self, spec: ehr.EhrSpec) -> ProcessHandle:
        return ehr.start(spec).process

    def alive(self, spec: ehr.EhrSpec, handle: ProcessHandle | None) -> bool:
        return _running(handle)

    def reconfigure(self, old: ehr.EhrSpec, new: ehr.EhrSpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is None:
            return ehr.start(new).process
        return ehr.reconfigure(old, new, ehr.EhrState(process=live)).process

    def remove(self, spec: ehr.EhrSpec, handle: ProcessHandle | None) -> None:
        ehr.destroy(ehr.EhrState(process=handle) if handle else None, spec)


class RouterProvider(ManagedProvider[haproxy.RouterSpec]):
    spec_type = haproxy.RouterSpec

    def resource_id(self, spec: haproxy.RouterSpec) -> str:
        return f"router-{spec.host}:{spec.port}"

    def start(self, spec: haproxy.RouterSpec) -> ProcessHandle:
        return haproxy.start(spec).process

    def alive(self, spec: haproxy.RouterSpec, handle: ProcessHandle | None) -> bool:
        return _running(handle)

    def reconfigure(self, old: haproxy.RouterSpec, new: haproxy.RouterSpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is None:
            return haproxy.start(new).process
        return haproxy.reload(old, new, haproxy.RouterState(process=live)).process

    def remove(self, spec: haproxy.RouterSpec, handle: ProcessHandle | None) -> None:
        if handle is not None:
            haproxy.stop_router(haproxy.RouterState(process=handle), spec)
        spec.config_path.unlink(missing_ok=True)


class PrometheusProvider(ManagedProvider[prometheus.PrometheusSpec]):
    spec_type = prometheus.PrometheusSpec

    def resource_id(self, spec: prometheus.PrometheusSpec) -> str:
        return f"prometheus-{spec.host}:{spec.port}"

    def start(self, spec: prometheus.PrometheusSpec) -> ProcessHandle:
        return prometheus.start(spec).process

    def alive(self, spec: prometheus.PrometheusSpec, handle: ProcessHandle | None) -> bool:
        return _running(handle)

    def reconfigure(self, old: prometheus.PrometheusSpec, new: prometheus.PrometheusSpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is None:
            return prometheus.start(new).process
        return prometheus.reconfigure(old, new, prometheus.PrometheusState(process=live)).process

    def remove(self, spec: prometheus.PrometheusSpec, handle: ProcessHandle | None) -> None:
        prometheus.destroy(prometheus.PrometheusState(process=handle) if handle else None, spec)


class AlertmanagerProvider(ManagedProvider[alertmanager.AlertmanagerSpec]):
    spec_type = alertmanager.AlertmanagerSpec

    def resource_id(self, spec: alertmanager.AlertmanagerSpec) -> str:
        return f"alertmanager-{spec.host}:{spec.port}"

    def start(self, spec: alertmanager.AlertmanagerSpec) -> ProcessHandle:
        return alertmanager.start(spec).process

    def alive(self, spec: alertmanager.AlertmanagerSpec, handle: ProcessHandle | None) -> bool:
        return _running(handle)

    def reconfigure(self, old: alertmanager.AlertmanagerSpec, new: alertmanager.AlertmanagerSpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is None:
            return alertmanager.start(new).process
        state = alertmanager.AlertmanagerState(process=live)
        return alertmanager.reconfigure(old, new, state).process

    def remove(self, spec: alertmanager.AlertmanagerSpec, handle: ProcessHandle | None) -> None:
        state = alertmanager.AlertmanagerState(process=handle) if handle else None
        alertmanager.destroy(state, spec)


class StatusServiceProvider(ManagedProvider[statuspage.StatusServiceSpec]):
    spec_type = statuspage.StatusServiceSpec
    # Its incident database lives in work_dir: moving it means a new service.
    replace_keys = ("work_dir",)

    def resource_id(self, spec: statuspage.StatusServiceSpec) -> str:
        return f"status-{spec.host}:{spec.port}"

    def start(self, spec: statuspage.StatusServiceSpec) -> ProcessHandle:
        return statuspage.start(spec).process

    def alive(self, spec: statuspage.StatusServiceSpec, handle: ProcessHandle | None) -> bool:
        return _running(handle)

    def reconfigure(self, old: statuspage.StatusServiceSpec, new: statuspage.StatusServiceSpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is None:
            return statuspage.start(new).process
        return statuspage.reconfigure(old, new, statuspage.StatusServiceState(process=live)).process

    def remove(self, spec: statuspage.StatusServiceSpec, handle: ProcessHandle | None) -> None:
        statuspage.destroy(statuspage.StatusServiceState(process=handle) if handle else None, spec)


class SloRulesProvider(ManagedProvider[slorules.SloRulesSpec]):
    """Installed rules have no process of their own: ``alive`` means the rules file is there."""

    spec_type = slorules.SloRulesSpec

    def resource_id(self, spec: slorules.SloRulesSpec) -> str:
        return f"slo-rules-{spec.profile}"

    def start(self, spec: slorules.SloRulesSpec) -> None:
        slorules.install(spec)
        return None

    def alive(self, spec: slorules.SloRulesSpec, handle: ProcessHandle | None) -> bool:
        return slorules.installed(spec)

    def reconfigure(self, old: slorules.SloRulesSpec, new: slorules.SloRulesSpec,
                    handle: ProcessHandle | None) -> None:
        return self.start(new)

    def remove(self, spec: slorules.SloRulesSpec, handle: ProcessHandle | None) -> None:
        slorules.uninstall(spec)
