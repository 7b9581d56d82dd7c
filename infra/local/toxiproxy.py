"""The Toxiproxy server of the local stack and its proxies (one per network link).

Links are named ``edge-<region>`` (router -> EHR), ``db-<region>`` (EHR -> its
PostgreSQL) and ``repl-<region>`` (standby -> primary). They are managed through
Toxiproxy's HTTP API; faults (toxics) are the chaos package's business, not ours.
Both ends of every proxy must be on loopback: we never forward traffic off the machine.

Proxies live in the server's memory: if the server restarts they are gone, which
``get_proxy`` reports (and a Pulumi refresh then notices).
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path

from chartguard_common.toxiproxy import ProxyState, ToxiproxyClient
from infra.local.errors import CommandError, InvalidSpecError, StartError
from infra.local.process import (
    ServerState,
    ensure_loopback,
    ensure_port_free,
    is_running,
    start_server,
    stop,
)
from infra.local.settings import DEFAULT_TOOLS_BIN_DIR

__all__ = [
    "ToxiproxySpec",
    "ToxiproxyState",
    "ToxiproxyStatus",
    "ProxySpec",
    "LinkSpec",
    "client",
    "create_link",
    "put_link",
    "start",
    "stop_server",
    "status",
]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, kw_only=True)
class ToxiproxySpec:
    """Where the Toxiproxy API listens and where the server logs."""

    log_path: Path
    host: str = "127.0.0.1"
    port: int = 8474
    binary: Path = DEFAULT_TOOLS_BIN_DIR / "toxiproxy-server"

    def __post_init__(self) -> None:
        ensure_loopback(self.host, what="toxiproxy API")
        if not 1 <= self.port <= 65535:
            raise InvalidSpecError(f"toxiproxy API: port {self.port} out of range")

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ToxiproxyState(ServerState):
    """The running Toxiproxy server (its proxies live in its memory)."""


@dataclass(frozen=True)
class ToxiproxyStatus:
    running: bool
    api_ok: bool
    proxies: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ProxySpec:
    """One link: Toxiproxy listens on ``listen_*`` and forwards to ``upstream_*``."""

    name: str
    listen_host: str
    listen_port: int
    upstream_host: str
    upstream_port: int
    enabled: bool = True

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidSpecError(f"proxy {self.name!r}: not a valid link name")
        ensure_loopback(self.listen_host, what=f"proxy {self.name!r} listen")
        ensure_loopback(self.upstream_host, what=f"proxy {self.name!r} upstream")
        for label, port in (("listen", self.listen_port), ("upstream", self.upstream_port)):
            if not 1 <= port <= 65535:
                raise InvalidSpecError(f"proxy {self.name!r}: {label} port {port} out of range")

    @property
    def listen(self) -> str:
        return f"{self.listen_host}:{self.listen_port}"

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self.upstream_port}"


@dataclass(frozen=True, kw_only=True)
class LinkSpec:
    """A link as a resource: the proxy and the Toxiproxy API (on loopback) that holds it."""

    api_url: str
    name: str
    listen_host: str
    listen_port: int
    upstream_host: str
    upstream_port: int
    enabled: bool = True

    def __post_init__(self) -> None:
        host = self.api_url.removeprefix("http://").rpartition(":")[0]
        if not self.api_url.startswith("http://"):
            raise InvalidSpecError(f"link {self.name!r}: api_url must be an http:// URL")
        ensure_loopback(host, what=f"link {self.name!r} toxiproxy API")
        self.proxy  # noqa: B018 - validates the proxy fields

    @property
    def proxy(self) -> ProxySpec:
        return ProxySpec(name=self.name, listen_host=self.listen_host,
                         listen_port=self.listen_port, upstream_host=self.upstream_host,
                         upstream_port=self.upstream_port, enabled=self.enabled)


def client(api_url: str, *, timeout: float = 5.0) -> ToxiproxyClient:
    """The Toxiproxy client (:mod:`chartguard_common.toxiproxy`), raising
    :class:`CommandError` like the rest of the local target."""
    return ToxiproxyClient(api_url, timeout_s=timeout, error=CommandError)


def create_link(api_url: str, spec: ProxySpec) -> ProxyState:
    """Create the proxy ``spec`` describes; its listen address must be free."""
    ensure_port_free(spec.listen_host, spec.listen_port, what=f"proxy {spec.name!r}")
    return client(api_url).create_proxy(
        name=spec.name, listen=spec.listen, upstream=spec.upstream, enabled=spec.enabled
    )


def put_link(api_url: str, spec: ProxySpec) -> ProxyState:
    """Create the proxy, or point the existing one of that name at ``spec`` (a leftover of
    an interrupted run is adopted, a moved link is repointed)."""
    if client(api_url).proxy(spec.name) is None:
        return create_link(api_url, spec)
    return client(api_url).update_proxy(
        name=spec.name, listen=spec.listen, upstream=spec.upstream, enabled=spec.enabled
    )


def _api_ok(spec: ToxiproxySpec) -> bool:
    try:
        client(spec.api_url, timeout=1.0).version()
        return True
    except CommandError:
        return False


def start(spec: ToxiproxySpec, *, timeout: float = 15.0) -> ToxiproxyState:
    """Start the server (with its Prometheus metrics on) and wait for its API."""
    if not spec.binary.exists():
        raise StartError(
            f"toxiproxy: {spec.binary} is missing; build it with bash infra/toolchain/build.sh"
        )
    ensure_port_free(spec.host, spec.port, what="toxiproxy API")
    handle = start_server(
        [spec.binary, "-host", spec.host, "-port", str(spec.port),
         "-proxy-metrics", "-runtime-metrics"],
        what="toxiproxy", log_path=spec.log_path, ready=lambda _: _api_ok(spec),
        timeout=timeout, stop_timeout=5,
    )
    return ToxiproxyState(process=handle)


def stop_server(state: ToxiproxyState) -> None:
    """Stop the server (its proxies go with it)."""
    stop(state.process, sig=signal.SIGTERM, timeout=10)


def status(spec: ToxiproxySpec, state: ToxiproxyState) -> ToxiproxyStatus:
    if not is_running(state.process):
        return ToxiproxyStatus(running=False, api_ok=False, proxies=())
    try:
        proxies = tuple(sorted(client(spec.api_url, timeout=2.0).proxies()))
    except CommandError:
        return ToxiproxyStatus(running=True, api_ok=False, proxies=())
    return ToxiproxyStatus(running=True, api_ok=True, proxies=proxies)
