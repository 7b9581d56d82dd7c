"""One dynamic provider per kind of local resource, each a thin adapter over its manager.

Most resources are one server process (:class:`ServerProvider`): alive while that very
process runs; an update revives a dead one, else applies the change in place (a reload
or a restart, as its manager decides). Links and installed rules have no process.

Roles move on the running stack (``chartguard migrate|failover``) and the stack then
records them (``roles.json``, :mod:`infra.roles`): a role change is accepted in place
when the live world already matches it. The database keeps running (its role is
checked with ``pg_is_in_recovery()``; a mismatch is refused, never "fixed" by demoting
a primary), the router is adopted as the runbook reloaded it, the EHRs keep running
(they read their role from the database).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from pulumi.dynamic import DiffResult
from pulumi.runtime.rpc import UNKNOWN

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
from infra.local.provider import ManagedProvider, live_process

__all__ = [
    "ServerProvider",
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

S = TypeVar("S")


def _live(handle: ProcessHandle | None) -> ProcessHandle | None:
    """``handle`` if its process runs; else None, after sweeping what it left in its group.

    Children of a killed server (PostgreSQL backends, gunicorn workers) can outlive it
    and keep its port or shared memory; they must go before it starts again.
    """
    if handle is None or is_running(handle):
        return handle
    stop(handle, timeout=5)
    return None


class ServerProvider(ManagedProvider[S]):
    """A resource that is one server process (subclasses: ``start``, ``apply``, ``remove``)."""

    def start(self, spec: S) -> ProcessHandle:
        raise NotImplementedError

    def revive(self, spec: S) -> ProcessHandle:
        """Start ``spec`` again after its process died (default: as on create)."""
        return self.start(spec)

    def apply(self, old: S, new: S, live: ProcessHandle) -> ProcessHandle:
        """Make the running process ``live`` match ``new``; return the (new) process."""
        raise NotImplementedError

    def apply_adopted(self, old: S, new: S, found: ProcessHandle) -> ProcessHandle:
        """Make ``found`` (a live server the state did not record) match ``new``."""
        return self.apply(old, new, found)

    def alive(self, spec: S, handle: ProcessHandle | None) -> bool:
        return handle is not None and is_running(handle)

    def reconfigure(self, old: S, new: S, handle: ProcessHandle | None) -> ProcessHandle:
        live = _live(handle)
        if live is None:
            found = self.find_live(old)
            if found is not None:
                return self.apply_adopted(old, new, found)
            return self.revive(new)
        return self.apply(old, new, live)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Whatever serves the resource now goes with it, recorded or not.
        spec = self.spec(props)
        self.remove(spec, _live(self.handle(props)) or self.find_live(spec))


class PostgresProvider(ServerProvider[postgres.PostgresSpec]):
    spec_type = postgres.PostgresSpec
    # Replacing a database server would wipe its data dir: refuse rather than lose data.
    # The role may change only to what the server already is (see diff).
    refused_keys = ("name", "data_dir", "app_user", "app_database", "replication_user")

    def resource_id(self, spec: postgres.PostgresSpec) -> str:
        return f"postgres-{spec.name}"

    def find_live(self, spec: postgres.PostgresSpec) -> ProcessHandle | None:
        """The postmaster of ``spec``'s data dir (``postmaster.pid``), if it runs."""
        return live_process(postgres.postmaster_pid(spec), command="postgres")

    def matches(self, spec: postgres.PostgresSpec, handle: ProcessHandle) -> bool:
        # A server that runs as another role than the state says is not adopted by a
        # refresh: the next `up` then checks it against the desired role (and refuses
        # a mismatch) instead of silently recording it.
        return postgres.live_role(spec) in (spec.role, None)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        new_role = news.get("role")
        if olds.get("role") not in (None, new_role) and new_role is not UNKNOWN:
            # Checked here too, so that `preview` already says why `up` would be refused
            # (and `up` refuses before changing anything). Not for an unchanged role:
            # `refresh` diffs the state against its own inputs and must not fail.
            old = self.spec(olds)
            handle = self.handle(olds)
            running = ((handle is not None and is_running(handle))
                       or self.find_live(old) is not None)
            postgres.check_role_change(old, str(new_role), running=running)
        return super().diff(id_, olds, news)

    def reconfigure(self, old: postgres.PostgresSpec, new: postgres.PostgresSpec,
                    handle: ProcessHandle | None) -> ProcessHandle:
        if old.role != new.role and (_live(handle) or self.find_live(old)) is None:
            # Nothing runs: only a data dir that already is a `new.role` may start as one.
            postgres.check_role_change(old, new.role, running=False)
        return super().reconfigure(old, new, handle)

    def apply_adopted(self, old: postgres.PostgresSpec, new: postgres.PostgresSpec,
                      found: ProcessHandle) -> ProcessHandle:
        if old.role == new.role:
            postgres.check_live_role(old, new.role)
        return self.apply(old, new, found)

    def _state(self, spec: postgres.PostgresSpec, handle: ProcessHandle) -> postgres.PostgresState:
        return postgres.PostgresState(process=handle, data_dir=spec.data_dir, host=spec.host,
                                      port=spec.port)

    def start(self, spec: postgres.PostgresSpec) -> ProcessHandle:
        return postgres.create(spec).process

    def revive(self, spec: postgres.PostgresSpec) -> ProcessHandle:
        return postgres.start(spec).process  # adopt the existing data dir

    def apply(self, old: postgres.PostgresSpec, new: postgres.PostgresSpec,
              live: ProcessHandle) -> ProcessHandle:
        return postgres.reconfigure(old, new, self._state(old, live)).process

    def remove(self, spec: postgres.PostgresSpec, handle: ProcessHandle | None) -> None:
        postgres.destroy(self._state(spec, handle) if handle else None, spec.data_dir)


class ToxiproxyServerProvider(ServerProvider[toxiproxy.ToxiproxySpec]):
    spec_type = toxiproxy.ToxiproxySpec
    replace_keys = ("host", "port")

    def resource_id(self, spec: toxiproxy.ToxiproxySpec) -> str:
        return f"toxiproxy-{spec.host}:{spec.port}"

    def start(self, spec: toxiproxy.ToxiproxySpec) -> ProcessHandle:
        return toxiproxy.start(spec).process

    def apply(self, old: toxiproxy.ToxiproxySpec, new: toxiproxy.ToxiproxySpec,
              live: ProcessHandle) -> ProcessHandle:
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
        toxiproxy.put_link(spec.api_url, spec.proxy)  # adopts a leftover of an interrupted run
        return None

    def alive(self, spec: toxiproxy.LinkSpec, handle: ProcessHandle | None) -> bool:
        try:
            return toxiproxy.client(spec.api_url).proxy(spec.name) is not None
        except CommandError:
            return False

    def reconfigure(self, old: toxiproxy.LinkSpec, new: toxiproxy.LinkSpec,
                    handle: ProcessHandle | None) -> None:
        return self.start(new)

    def remove(self, spec: toxiproxy.LinkSpec, handle: ProcessHandle | None) -> None:
        try:
            toxiproxy.client(spec.api_url).delete_proxy(spec.name)
        except CommandError:
            # The server is gone, and its in-memory proxies with it.
            if self.alive(spec, None):
                raise


class EhrProvider(ServerProvider[ehr.EhrSpec]):
    spec_type = ehr.EhrSpec
    replace_keys = ("region", "work_dir")

    def resource_id(self, spec: ehr.EhrSpec) -> str:
        return f"ehr-{spec.region}"

    def start(self, spec: ehr.EhrSpec) -> ProcessHandle:
        return ehr.start(spec).process

    def apply(self, old: ehr.EhrSpec, new: ehr.EhrSpec, live: ProcessHandle) -> ProcessHandle:
        if replace(old, role=new.role) == new:
            # The EHR asks its database for its role; a role change alone needs no restart.
            return live
        return ehr.reconfigure(old, new, ehr.EhrState(process=live)).process

    def remove(self, spec: ehr.EhrSpec, handle: ProcessHandle | None) -> None:
        ehr.destroy(ehr.EhrState(process=handle) if handle else None, spec)


def _serves_config_of(spec: haproxy.RouterSpec, live: ProcessHandle) -> bool:
    """Whether ``live`` runs what ``spec`` renders: the config file holds that text and
    the process started after the file was written (a reload whose new process failed
    to start leaves the new text behind an old process)."""
    try:
        if spec.config_path.read_text() != haproxy.render_config(spec):
            return False
        written = spec.config_path.stat().st_mtime
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return False
    started = boot + live.start_time / os.sysconf("SC_CLK_TCK")
    return started >= written - 1.0  # btime has a resolution of one second


class RouterProvider(ServerProvider[haproxy.RouterSpec]):
    spec_type = haproxy.RouterSpec

    def resource_id(self, spec: haproxy.RouterSpec) -> str:
        return f"router-{spec.host}:{spec.port}"

    def start(self, spec: haproxy.RouterSpec) -> ProcessHandle:
        return haproxy.start(spec).process

    def apply(self, old: haproxy.RouterSpec, new: haproxy.RouterSpec,
              live: ProcessHandle) -> ProcessHandle:
        if replace(old, servers=new.servers) == new and _serves_config_of(new, live):
            # Only the servers' roles changed, and a runbook already reloaded the router
            # with this very configuration: keep that process serving.
            return live
        return haproxy.reload(old, new, haproxy.RouterState(process=live)).process

    def find_live(self, spec: haproxy.RouterSpec) -> ProcessHandle | None:
        """The HAProxy that answers on the runtime socket (its ``show info`` Pid)."""
        try:
            info = haproxy.runtime_command(spec.socket_path, "show info", timeout=1.0)
        except CommandError:
            return None
        pid = next((int(line.split(":", 1)[1]) for line in info.splitlines()
                    if line.startswith("Pid:") and line.split(":", 1)[1].strip().isdigit()),
                   None)
        return live_process(pid, command="haproxy")

    def remove(self, spec: haproxy.RouterSpec, handle: ProcessHandle | None) -> None:
        if handle is not None:
            haproxy.stop_router(haproxy.RouterState(process=handle), spec)
        spec.config_path.unlink(missing_ok=True)


class PrometheusProvider(ServerProvider[prometheus.PrometheusSpec]):
    spec_type = prometheus.PrometheusSpec

    def resource_id(self, spec: prometheus.PrometheusSpec) -> str:
        return f"prometheus-{spec.host}:{spec.port}"

    def start(self, spec: prometheus.PrometheusSpec) -> ProcessHandle:
        return prometheus.start(spec).process

    def apply(self, old: prometheus.PrometheusSpec, new: prometheus.PrometheusSpec,
              live: ProcessHandle) -> ProcessHandle:
        return prometheus.reconfigure(old, new, prometheus.PrometheusState(process=live)).process

    def remove(self, spec: prometheus.PrometheusSpec, handle: ProcessHandle | None) -> None:
        prometheus.destroy(prometheus.PrometheusState(process=handle) if handle else None, spec)


class AlertmanagerProvider(ServerProvider[alertmanager.AlertmanagerSpec]):
    spec_type = alertmanager.AlertmanagerSpec

    def resource_id(self, spec: alertmanager.AlertmanagerSpec) -> str:
        return f"alertmanager-{spec.host}:{spec.port}"

    def start(self, spec: alertmanager.AlertmanagerSpec) -> ProcessHandle:
        return alertmanager.start(spec).process

    def apply(self, old: alertmanager.AlertmanagerSpec, new: alertmanager.AlertmanagerSpec,
              live: ProcessHandle) -> ProcessHandle:
        state = alertmanager.AlertmanagerState(process=live)
        return alertmanager.reconfigure(old, new, state).process

    def remove(self, spec: alertmanager.AlertmanagerSpec, handle: ProcessHandle | None) -> None:
        state = alertmanager.AlertmanagerState(process=handle) if handle else None
        alertmanager.destroy(state, spec)


class StatusServiceProvider(ServerProvider[statuspage.StatusServiceSpec]):
    spec_type = statuspage.StatusServiceSpec
    # Its incident database lives in work_dir: moving it means a new service.
    replace_keys = ("work_dir",)

    def resource_id(self, spec: statuspage.StatusServiceSpec) -> str:
        return f"status-{spec.host}:{spec.port}"

    def start(self, spec: statuspage.StatusServiceSpec) -> ProcessHandle:
        return statuspage.start(spec).process

    def apply(self, old: statuspage.StatusServiceSpec, new: statuspage.StatusServiceSpec,
              live: ProcessHandle) -> ProcessHandle:
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
