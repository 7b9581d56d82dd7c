"""The HAProxy global router of the local stack.

Writes (everything but GET/HEAD) go to backend ``be_ehr``: the primary region's server
is active and every standby region is a ``backup``, so a write only ever reaches the
primary while it is healthy; once the primary fails its health checks (``inter 1s fall
2``) all traffic moves to the first healthy standby, which serves reads and answers
writes with ``503 read_only`` itself. No write can land on a database that is not the
primary.

Reads (GET/HEAD) go to ``be_ehr`` too (read-your-writes) until a runbook shifts them
step by step to a standby: backend ``be_ehr_read`` has the same servers, tracking
``be_ehr``'s (same health, same maintenance), the primary at weight 100 and every standby
at weight 0; reads use it only while a standby there has weight
(``set server be_ehr_read/<region> weight N``) and some read server is usable. Outside a
shift, reads keep ``be_ehr``'s protection: its servers' real traffic is observed (a
tracking server's is not), and once the primary is down they go to its backup.

Health is judged at the region, not through one lossy path: each server's ``/readyz``
check goes straight to the region's EHR (``check_host``/``check_port``), the way a
cloud's health checkers probe from many vantage points, so a brownout on the edge link
(the BGP event: a third of connections slow, stalled or reset) does not fail a healthy
primary over to a read-only standby. The path itself is judged by real traffic
(``observe layer4``: two consecutive refused or timed-out connections mark the server
down; a brownout's slow or reset connections are not connection errors), and a
request the server never answered is retried on a fresh connection (``retry-on``) when
that is safe: reads, logins, and writes that carry an ``Idempotency-Key`` (the EHR
replays the stored answer of a write it already applied). Other writes are only retried when the
connection could not even be opened.

A second frontend on the stats address serves HAProxy's Prometheus exporter at
``/metrics`` and the stats page at ``/stats``. The runtime API (``level admin``) listens
on a Unix socket for weight changes and drains. Reconfiguration is a graceful reload:
a new process takes the listening sockets over the runtime socket (``-x``) and tells
the old one to finish its connections and exit (``-sf``).

No request line is logged (URLs can carry patient search terms); only server state
changes are.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.errors import CommandError, InvalidSpecError
from infra.local.process import (
    ProcessHandle,
    ServerState,
    ensure_loopback,
    ensure_port_free,
    is_running,
    port_is_bound,
    start_server,
    stop,
)

__all__ = [
    "RouterServer",
    "RouterSpec",
    "RouterState",
    "RouterStatus",
    "render_config",
    "start",
    "reload",
    "stop_router",
    "status",
    "runtime_command",
    "FRONTEND",
    "BACKEND",
    "READ_BACKEND",
]

FRONTEND = "fe_ehr"
BACKEND = "be_ehr"
READ_BACKEND = "be_ehr_read"
#: Retried like a read when its answer is lost: a second login only issues another token.
LOGIN_PATH = "/api/v1/auth/login"
#: Consecutive connection errors on real traffic that mark a server down. Lower than
#: ``retries``: one request that meets a dead region marks it down within its own retries
#: instead of waiting for failing checks (a region that refuses connections is gone, not
#: browned out). Checks that still pass bring it back up (``rise``).
OBSERVE_ERROR_LIMIT = 2
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# A Unix socket path must fit sockaddr_un.sun_path (108 bytes with the NUL).
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True, kw_only=True)
class RouterServer:
    """One backend server: a region, reached at ``host:port`` (its edge link).

    Its health checks go to ``check_host:check_port`` (the region's EHR itself) when
    given, else through ``host:port`` too.
    """

    name: str
    host: str
    port: int
    backup: bool = False
    check_host: str | None = None
    check_port: int | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidSpecError(f"router server {self.name!r}: not a valid server name")
        ensure_loopback(self.host, what=f"router server {self.name!r}")
        if self.check_host is not None:
            ensure_loopback(self.check_host, what=f"router server {self.name!r} check")
        for label, port in (("port", self.port), ("check port", self.check_port)):
            if port is not None and not 1 <= port <= 65535:
                raise InvalidSpecError(
                    f"router server {self.name!r}: {label} {port} out of range")

    def check_target(self) -> str:
        """The ``check`` keywords of this server's line in ``be_ehr``."""
        where = ""
        if self.check_host is not None:
            where += f" addr {self.check_host}"
        if self.check_port is not None:
            where += f" port {self.check_port}"
        return f"check{where}"


@dataclass(frozen=True, kw_only=True)
class RouterSpec:
    """The router's listeners, servers, health-check timing and files."""

    servers: tuple[RouterServer, ...]
    config_path: Path
    socket_path: Path
    log_path: Path
    host: str = "127.0.0.1"
    port: int = 8080
    stats_host: str = "127.0.0.1"
    stats_port: int = 8405
    check_path: str = "/readyz"
    check_inter_ms: int = 1000
    check_fall: int = 2
    check_rise: int = 2
    binary: Path = Path("/usr/sbin/haproxy")
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ensure_loopback(self.host, what="router")
        ensure_loopback(self.stats_host, what="router stats")
        if not self.servers:
            raise InvalidSpecError("router: needs at least one server")
        names = [s.name for s in self.servers]
        if len(set(names)) != len(names):
            raise InvalidSpecError(f"router: duplicate server names in {names}")
        if all(s.backup for s in self.servers):
            raise InvalidSpecError("router: every server is a backup; mark the primary active")
        if (self.host, self.port) == (self.stats_host, self.stats_port):
            raise InvalidSpecError("router: the stats listener must differ from the main one")
        if not re.match(r"^/[A-Za-z0-9/_.-]*$", self.check_path):
            raise InvalidSpecError(f"router: bad health-check path {self.check_path!r}")
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise InvalidSpecError(
                f"router: runtime socket path is longer than {_MAX_SOCKET_PATH} bytes: "
                f"{self.socket_path}"
            )
        for label, value in (("inter", self.check_inter_ms), ("fall", self.check_fall),
                             ("rise", self.check_rise)):
            if value < 1:
                raise InvalidSpecError(f"router: check {label} must be positive")


class RouterState(ServerState):
    """The running HAProxy process (a new one after every reload)."""


@dataclass(frozen=True)
class RouterStatus:
    """Whether HAProxy runs, and each server's check status (``UP``, ``DOWN``, ...)."""

    running: bool
    servers: dict[str, str]


def render_config(spec: RouterSpec) -> str:
    """The haproxy.cfg text for ``spec``."""
    servers = "\n".join(
        f"    server {s.name} {s.host}:{s.port} {s.check_target()}{' backup' if s.backup else ''}"
        for s in spec.servers
    )
    read_servers = "\n".join(
        f"    server {s.name} {s.host}:{s.port} track {BACKEND}/{s.name} "
        f"weight {0 if s.backup else 100}"
        for s in spec.servers
    )
    return f"""# Written by chartguard (infra.local.haproxy); rewritten on every reconfigure.
global
    log stdout format raw local0 notice
    stats socket {spec.socket_path} mode 600 level admin expose-fd listeners
    stats timeout 30s
    nbthread 2
    # A reload's old process gets this long to finish in-flight requests.
    hard-stop-after 10s

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    # A request the server never answered is retried on a fresh connection (on another
    # server if need be), up to three times; see disable-l7-retry below for which.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
    # A request is only retried if HAProxy still holds all of it: wait for the body.
    option http-buffer-request
    # Requests carry their own bearer token: any idle server connection may serve them,
    # so one that survived a lossy path keeps serving instead of a new, maybe lossy, one.
    http-reuse always

frontend {FRONTEND}
    bind {spec.host}:{spec.port}
    # Only reads, logins (a repeated login just issues another token) and writes with an
    # Idempotency-Key may be sent twice; any other write is retried only when its
    # connection could not be opened (nothing was sent).
    http-request disable-l7-retry if !METH_GET !{{ path {LOGIN_PATH} }} \
!{{ req.hdr(idempotency-key) -m found }}
{_read_shift_rules(spec)}    default_backend {BACKEND}

backend {BACKEND}
    log global
    option httpchk GET {spec.check_path}
    http-check expect status 200
    default-server inter {spec.check_inter_ms}ms fall {spec.check_fall} rise {spec.check_rise} \
on-marked-down shutdown-sessions observe layer4 error-limit {OBSERVE_ERROR_LIMIT} on-error mark-down
{servers}

backend {READ_BACKEND}
    log global
    balance roundrobin
{read_servers}

frontend stats
    bind {spec.stats_host}:{spec.stats_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 5s
"""


def _read_shift_rules(spec: RouterSpec) -> str:
    """Frontend lines sending reads to the read backend while a standby has read weight."""
    standbys = [s.name for s in spec.servers if s.backup]
    if not standbys:
        return ""
    acls = "".join(f"    acl read_shift srv_uweight({READ_BACKEND}/{name}) gt 0\n"
                   for name in standbys)
    return (f"{acls}    use_backend {READ_BACKEND} if METH_GET read_shift "
            f"{{ nbsrv({READ_BACKEND}) gt 0 }}\n")


def _write_checked(spec: RouterSpec) -> None:
    """Write the config only if HAProxy accepts it, so a bad spec changes nothing."""
    spec.config_path.parent.mkdir(parents=True, exist_ok=True)
    candidate = spec.config_path.with_suffix(".cfg.new")
    candidate.write_text(render_config(spec))
    result = subprocess.run(  # noqa: S603 - fixed binary, our own config
        [str(spec.binary), "-c", "-q", "-f", str(candidate)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if result.returncode != 0:
        candidate.unlink(missing_ok=True)
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-6:])
        raise CommandError(f"router: haproxy rejected the generated config:\n{tail}")
    os.replace(candidate, spec.config_path)


def runtime_command(socket_path: Path, command: str, *, timeout: float = 5.0) -> str:
    """Send one command to the HAProxy runtime API and return its answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as e:
        raise CommandError(f"router: runtime API at {socket_path}: {e}") from e
    return b"".join(chunks).decode(errors="replace")


def _serving_pid(spec: RouterSpec) -> int | None:
    try:
        info = runtime_command(spec.socket_path, "show info", timeout=1.0)
    except CommandError:
        return None
    match = re.search(r"^Pid: (\d+)$", info, re.MULTILINE)
    return int(match.group(1)) if match else None


def _launch(spec: RouterSpec, extra_args: list[str], *, timeout: float) -> RouterState:
    def ready(handle: ProcessHandle) -> bool:
        # Ready when *this* process serves (a reload's old process may still listen).
        return _serving_pid(spec) == handle.pid and port_is_bound(spec.host, spec.port)

    handle = start_server(
        [spec.binary, "-db", "-f", spec.config_path, *extra_args],
        what="router", log_path=spec.log_path, env=spec.extra_env, ready=ready,
        timeout=timeout, stop_timeout=5,
    )
    return RouterState(process=handle)


def start(spec: RouterSpec, *, timeout: float = 20.0) -> RouterState:
    """Write and check the config, start HAProxy and wait until it listens."""
    ensure_port_free(spec.host, spec.port, what="router")
    ensure_port_free(spec.stats_host, spec.stats_port, what="router stats")
    _write_checked(spec)
    spec.socket_path.unlink(missing_ok=True)
    return _launch(spec, [], timeout=timeout)


def reload(old: RouterSpec, new: RouterSpec, state: RouterState,
           *, timeout: float = 20.0) -> RouterState:
    """Apply ``new`` gracefully: a new process takes over, the old one drains and exits.

    If the old process is gone, this simply starts a new one.
    """
    for host, port, old_addr in (
        (new.host, new.port, (old.host, old.port)),
        (new.stats_host, new.stats_port, (old.stats_host, old.stats_port)),
    ):
        if (host, port) != old_addr:
            ensure_port_free(host, port, what="router")
    _write_checked(new)
    if not is_running(state.process):
        new.socket_path.unlink(missing_ok=True)
        return _launch(new, [], timeout=timeout)
    takeover = ["-x", str(old.socket_path)] if old.socket_path.exists() else []
    fresh = _launch(new, [*takeover, "-sf", str(state.process.pid)], timeout=timeout)
    # The old process finishes in-flight requests then exits; reap it when it does.
    stop(state.process, sig=signal.SIGUSR1, timeout=timeout)
    return fresh


def stop_router(state: RouterState, spec: RouterSpec | None = None) -> None:
    """Stop HAProxy and remove its runtime socket."""
    stop(state.process, sig=signal.SIGTERM, timeout=10)
    if spec is not None:
        spec.socket_path.unlink(missing_ok=True)


def status(spec: RouterSpec, state: RouterState) -> RouterStatus:
    """Whether HAProxy runs, with each ``be_ehr`` server's status from the runtime API."""
    if not is_running(state.process):
        return RouterStatus(running=False, servers={})
    servers: dict[str, str] = {}
    try:
        csv_text = runtime_command(spec.socket_path, "show stat")
    except CommandError:
        return RouterStatus(running=True, servers={})
    lines = csv_text.lstrip("# ").splitlines()
    if lines:
        header = lines[0].split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == BACKEND and row.get("svname") not in ("BACKEND", None):
                servers[row["svname"]] = row.get("status", "")
    return RouterStatus(running=True, servers=servers)
