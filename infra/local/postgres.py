"""PostgreSQL 15 servers of the local stack: a primary and streaming hot standbys.

The primary is created with ``initdb`` plus an application role and database and a
replication role; a standby is cloned with ``pg_basebackup -R`` from the address it is
given (in the stack, the region's ``repl-<region>`` Toxiproxy link) and streams from it.

In ``sync`` mode the primary names its standbys in ``synchronous_standby_names`` and
commits with ``synchronous_commit = remote_apply``: a commit is acknowledged only once a
standby has applied it, so a failover to that standby loses no acknowledged write (and
reads there see it). ``async`` commits locally and may lose the last writes on failover.

Servers run as the unprivileged ``postgres`` user when we are root (PostgreSQL refuses
to run as root), listen on TCP only (no Unix socket: paths under ``.state`` can be too
long for one), and never log statement text, which could carry PHI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from infra.local.errors import CommandError, InvalidSpecError, StartError
from infra.local.process import (
    ProcessHandle,
    as_user,
    child_env,
    ensure_loopback,
    ensure_port_free,
    is_running,
    signal_process,
    start_server,
    stop,
    wait_until,
)
from infra.local.settings import DEFAULT_PG_BIN_DIR

__all__ = [
    "PostgresSpec",
    "PostgresState",
    "PostgresStatus",
    "create",
    "start",
    "stop_server",
    "destroy",
    "status",
    "reconfigure",
    "connect",
    "app_dsn",
    "postmaster_pid",
    "live_role",
    "cluster_role",
    "check_role_change",
    "check_live_role",
]

Role = Literal["primary", "standby"]
ReplicationMode = Literal["sync", "async"]
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_CONF_FILE = "chartguard.conf"
# Settings that only take effect after a restart (a reload is enough for the rest).
_RESTART_FIELDS = ("host", "port")


@dataclass(frozen=True, kw_only=True)
class PostgresSpec:
    """What one PostgreSQL server should be. Validated on construction.

    ``upstream_host``/``upstream_port`` (standby only) is where it replicates from.
    ``sync_standbys`` (primary only) names the standbys (their ``application_name``,
    the region name) that must confirm each commit in ``sync`` mode; with more than
    one, any one of them is enough (quorum commit).
    """

    name: str
    role: Role
    host: str
    port: int
    data_dir: Path
    log_path: Path
    replication: ReplicationMode = "sync"
    sync_standbys: tuple[str, ...] = ()
    upstream_host: str | None = None
    upstream_port: int | None = None
    app_user: str = "chartguard"
    app_database: str = "chartguard"
    app_password: str = field(default="", repr=False)
    replication_user: str = "replicator"
    replication_password: str = field(default="", repr=False)
    superuser_password: str = field(default="", repr=False)
    bin_dir: Path = DEFAULT_PG_BIN_DIR
    run_as: str | None = "postgres"

    def __post_init__(self) -> None:
        what = f"postgres {self.name!r}"
        if not _IDENT.match(self.name):
            raise InvalidSpecError(f"{what}: name must be a lowercase identifier")
        if self.role not in ("primary", "standby"):
            raise InvalidSpecError(
                f"{what}: role must be 'primary' or 'standby', not {self.role!r}"
            )
        if self.replication not in ("sync", "async"):
            raise InvalidSpecError(
                f"{what}: replication must be 'sync' or 'async', not {self.replication!r}"
            )
        ensure_loopback(self.host, what=f"{what} host")
        if not 1 <= self.port <= 65535:
            raise InvalidSpecError(f"{what}: port {self.port} out of range")
        for ident in (self.app_user, self.app_database, self.replication_user, *self.sync_standbys):
            if not _IDENT.match(ident):
                raise InvalidSpecError(f"{what}: {ident!r} is not a valid lowercase identifier")
        for label, secret in (
            ("app_password", self.app_password),
            ("replication_password", self.replication_password),
            ("superuser_password", self.superuser_password),
        ):
            if len(secret) < 8 or "'" in secret or "\\" in secret:
                raise InvalidSpecError(
                    f"{what}: {label} must have at least 8 characters and no quotes or backslashes"
                )
        if self.role == "standby":
            if self.upstream_host is None or self.upstream_port is None:
                raise InvalidSpecError(f"{what}: a standby needs upstream_host and upstream_port")
            ensure_loopback(self.upstream_host, what=f"{what} upstream")
        if self.role == "primary" and self.replication == "sync" and not self.sync_standbys:
            raise InvalidSpecError(f"{what}: sync replication needs at least one standby name")

    @property
    def superuser(self) -> str:
        return "postgres"


@dataclass(frozen=True)
class PostgresState:
    """What was started: the postmaster process and where its data lives."""

    process: ProcessHandle
    data_dir: Path
    host: str
    port: int

    def to_dict(self) -> dict[str, object]:
        return {
            **self.process.to_dict(),
            "data_dir": str(self.data_dir),
            "host": self.host,
            "port": self.port,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PostgresState:
        return cls(
            process=ProcessHandle.from_dict(data),
            data_dir=Path(str(data["data_dir"])),
            host=str(data["host"]),
            port=int(str(data["port"])),
        )


@dataclass(frozen=True)
class PostgresStatus:
    """A server's observed state. ``in_recovery`` is True on a standby (None if unreachable)."""

    running: bool
    accepting: bool
    in_recovery: bool | None


def _ids(spec: PostgresSpec) -> tuple[int, int] | None:
    if spec.run_as is None or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(spec.run_as)
    except KeyError as e:
        raise InvalidSpecError(f"postgres {spec.name!r}: unknown user {spec.run_as!r}") from e
    return entry.pw_uid, entry.pw_gid


def _run_as(spec: PostgresSpec) -> str | None:
    return spec.run_as if _ids(spec) is not None else None


def _prepare_dir(spec: PostgresSpec, path: Path) -> None:
    """Create ``path`` (mode 0700) owned by the server user, checking it can reach it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    ids = _ids(spec)
    if ids is None:
        return
    os.chown(path, *ids)
    # PostgreSQL runs as another user: every parent must be searchable by it.
    for parent in path.parents:
        if not parent.stat().st_mode & 0o001:
            raise InvalidSpecError(
                f"postgres {spec.name!r}: user {spec.run_as} cannot enter {parent} "
                "(not world-searchable); put the data dir elsewhere"
            )


def _run(spec: PostgresSpec, argv: Sequence[str | os.PathLike[str]], *, what: str,
         env: dict[str, str] | None = None, timeout: float = 120.0) -> None:
    try:
        result = subprocess.run(  # noqa: S603 - argv built from a validated spec
            as_user(argv, _run_as(spec)),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env({"HOME": "/", **(env or {})}),
            cwd="/",
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CommandError(f"postgres {spec.name!r}: {what} failed: {e}") from e
    if result.returncode != 0:
        # Output of initdb/pg_basebackup is about files and connections, never row data.
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-6:])
        raise CommandError(f"postgres {spec.name!r}: {what} exited {result.returncode}:\n{tail}")


def _conf_text(spec: PostgresSpec) -> str:
    sync_names = ""
    if spec.role == "primary" and spec.replication == "sync":
        quoted = ", ".join(f'"{n}"' for n in spec.sync_standbys)
        sync_names = quoted if len(spec.sync_standbys) == 1 else f"ANY 1 ({quoted})"
    commit = "remote_apply" if sync_names else "on"
    return "\n".join(
        [
            "# Written by chartguard (infra.local.postgres); rewritten on every reconfigure.",
            f"listen_addresses = '{spec.host}'",
            f"port = {spec.port}",
            "unix_socket_directories = ''",
            "max_connections = 100",
            "shared_buffers = 32MB",
            "wal_level = replica",
            "max_wal_senders = 10",
            "wal_keep_size = '256MB'",
            "hot_standby = on",
            "hot_standby_feedback = on",
            "wal_receiver_status_interval = 1s",
            # Reconnect quickly once a browned-out replication link comes back.
            "wal_retrieve_retry_interval = 1s",
            f"synchronous_standby_names = '{sync_names}'",
            f"synchronous_commit = {commit}",
            f"cluster_name = '{spec.name}'",
            # Statement text may carry PHI: never log it, not even for failing statements.
            "log_statement = 'none'",
            "log_min_error_statement = panic",
            "log_min_duration_statement = -1",
            "log_line_prefix = '%m [%p] '",
            "",
        ]
    )


def _hba_text(spec: PostgresSpec) -> str:
    return "\n".join(
        [
            "# Written by chartguard: password logins over loopback only.",
            "host all all 127.0.0.0/8 scram-sha-256",
            f"host replication {spec.replication_user} 127.0.0.0/8 scram-sha-256",
            "",
        ]
    )


def _write_owned(spec: PostgresSpec, path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)
    ids = _ids(spec)
    if ids is not None:
        os.chown(path, *ids)


def _write_config(spec: PostgresSpec) -> None:
    main_conf = spec.data_dir / "postgresql.conf"
    include = f"include_if_exists = '{_CONF_FILE}'"
    text = main_conf.read_text()
    if include not in text:
        _write_owned(spec, main_conf, text.rstrip("\n") + f"\n{include}\n")
    _write_owned(spec, spec.data_dir / _CONF_FILE, _conf_text(spec))
    _write_owned(spec, spec.data_dir / "pg_hba.conf", _hba_text(spec))
    if spec.role == "standby":
        _write_owned(spec, spec.data_dir / "standby.signal", "")


def _superuser_conninfo(spec: PostgresSpec, host: str, port: int) -> dict[str, object]:
    return {
        "host": host,
        "port": port,
        "user": spec.superuser,
        "password": spec.superuser_password,
        "dbname": "postgres",
        "connect_timeout": 2,
        # Bootstrap writes must not wait for a standby that does not exist yet.
        "options": "-c synchronous_commit=local",
    }


def connect(spec: PostgresSpec, *, dbname: str = "postgres", autocommit: bool = True,
            **options: object) -> psycopg.Connection:
    """A superuser connection to the server of ``spec`` (for admin work and tests)."""
    info = {**_superuser_conninfo(spec, spec.host, spec.port), "dbname": dbname, **options}
    return psycopg.connect(autocommit=autocommit, **info)  # type: ignore[arg-type]


def app_dsn(spec: PostgresSpec, *, host: str | None = None, port: int | None = None) -> str:
    """The application's DSN, optionally through another address (a Toxiproxy link)."""
    return (
        f"postgresql://{spec.app_user}:{spec.app_password}@{host or spec.host}:"
        f"{port or spec.port}/{spec.app_database}"
    )


def _accepting(spec: PostgresSpec) -> bool:
    try:
        with connect(spec, connect_timeout=1):
            return True
    except psycopg.Error:
        return False


def _launch(spec: PostgresSpec, *, timeout: float) -> PostgresState:
    ensure_port_free(spec.host, spec.port, what=f"postgres {spec.name!r}")
    handle = start_server(
        [spec.bin_dir / "postgres", "-D", spec.data_dir],
        what=f"postgres {spec.name!r} on {spec.host}:{spec.port}",
        log_path=spec.log_path, user=_run_as(spec), cwd=spec.data_dir,
        ready=lambda _: _accepting(spec), timeout=timeout, interval=0.2,
        stop_sig=signal.SIGINT, stop_timeout=10,
    )
    return PostgresState(process=handle, data_dir=spec.data_dir, host=spec.host, port=spec.port)


def _initialise_primary(spec: PostgresSpec) -> None:
    pwfile = spec.data_dir.parent / f".{spec.data_dir.name}.pw"
    _write_owned(spec, pwfile, spec.superuser_password + "\n")
    try:
        _run(
            spec,
            [
                spec.bin_dir / "initdb",
                "-D", spec.data_dir,
                "-U", spec.superuser,
                "--pwfile", pwfile,
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
                # A brand-new cluster holds nothing yet; skipping fsync here saves seconds.
                "--no-sync",
            ],
            what="initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)


def _bootstrap_roles(spec: PostgresSpec) -> None:
    with connect(spec) as conn:
        for user, password, attrs in (
            (spec.replication_user, spec.replication_password, sql.SQL("LOGIN REPLICATION")),
            (spec.app_user, spec.app_password, sql.SQL("LOGIN")),
        ):
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)
            ).fetchone()
            verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
            conn.execute(
                sql.SQL("{} {} WITH {} PASSWORD {}").format(
                    verb, sql.Identifier(user), attrs, sql.Literal(password)
                )
            )
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (spec.app_database,)
        ).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(spec.app_database), sql.Identifier(spec.app_user)
                )
            )


def _clone_standby(spec: PostgresSpec) -> None:
    assert spec.upstream_host is not None and spec.upstream_port is not None
    conninfo = (
        f"host={spec.upstream_host} port={spec.upstream_port} user={spec.replication_user} "
        f"application_name={spec.name}"
    )
    _run(
        spec,
        [
            spec.bin_dir / "pg_basebackup",
            "-d", conninfo,
            "-D", spec.data_dir,
            "-R",
            "-X", "stream",
            "-c", "fast",
            "--no-password",
        ],
        what="pg_basebackup",
        env={"PGPASSWORD": spec.replication_password, "PGCONNECT_TIMEOUT": "5"},
        timeout=300.0,
    )


def _is_cluster(path: Path) -> bool:
    return (path / "PG_VERSION").is_file()


def create(spec: PostgresSpec, *, timeout: float = 60.0) -> PostgresState:
    """Create (or adopt) the data dir of ``spec`` and start the server; wait until it is ready.

    An existing cluster in ``data_dir`` is reused, never wiped: it may hold acknowledged
    data. A non-empty ``data_dir`` that is not a cluster is refused.
    """
    if spec.data_dir.exists() and any(spec.data_dir.iterdir()) and not _is_cluster(spec.data_dir):
        raise InvalidSpecError(
            f"postgres {spec.name!r}: {spec.data_dir} is not empty and not a PostgreSQL cluster"
        )
    ensure_port_free(spec.host, spec.port, what=f"postgres {spec.name!r}")
    fresh = not _is_cluster(spec.data_dir)
    spec.data_dir.parent.mkdir(parents=True, exist_ok=True)
    _prepare_dir(spec, spec.data_dir)
    if fresh:
        try:
            if spec.role == "primary":
                _initialise_primary(spec)
            else:
                _clone_standby(spec)
        except Exception:
            # Nothing was acknowledged to anyone from a half-made cluster.
            shutil.rmtree(spec.data_dir, ignore_errors=True)
            raise
    _write_config(spec)
    state = _launch(spec, timeout=timeout)
    if spec.role == "standby":
        _wait_streaming(spec, state, timeout=timeout)
    if spec.role == "primary":
        try:
            _bootstrap_roles(spec)
        except psycopg.Error as e:
            stop_server(state)
            raise CommandError(f"postgres {spec.name!r}: creating roles failed: {e}") from e
    return state


def _streaming(spec: PostgresSpec) -> bool:
    try:
        with connect(spec, connect_timeout=1) as conn:
            row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0] == "streaming")


def _wait_streaming(spec: PostgresSpec, state: PostgresState, *, timeout: float) -> None:
    """Wait until the standby streams, so the primary's sync commits can be confirmed."""
    try:
        wait_until(
            lambda: _streaming(spec),
            what=f"postgres {spec.name!r} streaming from {spec.upstream_host}:{spec.upstream_port}",
            timeout=timeout,
            handle=state.process,
            log_path=spec.log_path,
            interval=0.2,
        )
    except StartError:
        stop_server(state)
        raise


def start(spec: PostgresSpec, *, timeout: float = 60.0) -> PostgresState:
    """Start an existing cluster (after a crash or a ``stop_server``)."""
    if not _is_cluster(spec.data_dir):
        raise InvalidSpecError(f"postgres {spec.name!r}: {spec.data_dir} holds no cluster")
    _write_config(spec)
    return _launch(spec, timeout=timeout)


def stop_server(state: PostgresState, *, timeout: float = 30.0) -> None:
    """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit)."""
    stop(state.process, sig=signal.SIGINT, timeout=timeout)


def destroy(state: PostgresState | None, data_dir: Path) -> None:
    """Stop the server (if any) and remove its data dir."""
    if state is not None:
        stop_server(state)
    shutil.rmtree(data_dir, ignore_errors=True)
    try:
        data_dir.parent.rmdir()  # the per-stack postgres/ folder, once its last cluster goes
    except OSError:
        pass


def status(spec: PostgresSpec, state: PostgresState) -> PostgresStatus:
    """Whether the server runs, accepts connections, and is in recovery (a standby)."""
    if not is_running(state.process):
        return PostgresStatus(running=False, accepting=False, in_recovery=None)
    probe = replace(spec, host=state.host, port=state.port)
    try:
        with connect(probe, connect_timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return PostgresStatus(running=True, accepting=False, in_recovery=None)
    return PostgresStatus(running=True, accepting=True, in_recovery=bool(row and row[0]))


def postmaster_pid(spec: PostgresSpec) -> int | None:
    """The pid in ``<data_dir>/postmaster.pid`` if that file is this data dir's (else None).

    Its first line is the postmaster's pid, its second the data dir. The pid is not
    checked here: it may be stale (a crashed server leaves the file behind).
    """
    try:
        lines = (spec.data_dir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0].strip())
    except (OSError, IndexError, ValueError):
        return None
    if len(lines) > 1 and Path(lines[1].strip()).resolve() != spec.data_dir.resolve():
        return None  # a data dir copied from elsewhere: not the server of this one
    return pid


def live_role(spec: PostgresSpec) -> Role | None:
    """``primary``/``standby`` from ``pg_is_in_recovery()`` of the server at ``spec``'s
    address; None when it does not answer."""
    try:
        with connect(spec, connect_timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return None
    return "standby" if row and row[0] else "primary"


def cluster_role(spec: PostgresSpec) -> Role | None:
    """What the data dir would start as: ``standby`` with a ``standby.signal``, else
    ``primary``; None when it holds no cluster."""
    if not _is_cluster(spec.data_dir):
        return None
    return "standby" if (spec.data_dir / "standby.signal").exists() else "primary"


def check_role_change(old: PostgresSpec, new_role: str, *, running: bool) -> Role:
    """Refuse a role change the live world does not already match; return the live role.

    A runbook (migrate, failover) changes roles on the running stack; the stack may only
    record what it did. So the server on ``old``'s data dir and address must already be
    a ``new_role`` (``pg_is_in_recovery()``), or, when none runs (``running`` False), its
    data dir must be one (a ``standby.signal`` for a standby). Never demote or promote
    here: demoting a primary needs a rebuild, which is the runbook's job.
    """
    if running:
        actual = live_role(old)
        where = f"the server on {old.data_dir}"
        if actual is None:
            raise InvalidSpecError(
                f"postgres {old.name!r}: role cannot change to {new_role}: {where} does "
                f"not answer on {old.host}:{old.port}, so its role cannot be checked")
    else:
        actual = cluster_role(old)
        where = f"the cluster in {old.data_dir} (not running)"
        if actual is None:
            raise InvalidSpecError(
                f"postgres {old.name!r}: role cannot change to {new_role}: "
                f"{old.data_dir} holds no cluster")
    if actual != new_role:
        raise InvalidSpecError(
            f"postgres {old.name!r}: role cannot change to {new_role} in place: {where} is "
            f"a {actual}. Move roles with the runbooks (chartguard migrate/failover "
            f"rebuild a former primary as a standby), or fix roles.json")
    return actual


def check_live_role(spec: PostgresSpec, role: str) -> None:
    """Refuse to go on when the server at ``spec``'s address answers as another role.

    The stack's roles must describe what runs: after a runbook moved the primary the
    roles it recorded (``roles.json``) say so; without them the stack would act on the
    old roles. A server that does not answer is not judged here.
    """
    actual = live_role(spec)
    if actual is not None and actual != role:
        raise InvalidSpecError(
            f"postgres {spec.name!r}: the stack says {role}, but the server on "
            f"{spec.data_dir} is a {actual} (did a runbook move the roles, and its "
            "roles.json is gone?); record the roles again or move them back with the "
            "runbooks; nothing changed")


def _follow(spec: PostgresSpec) -> bool:
    """Point a running standby at ``spec``'s upstream unless it streams from there; True
    if its ``primary_conninfo`` was rewritten (a reload applies it, PostgreSQL >= 13)."""
    try:
        with connect(spec, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT sender_host, sender_port FROM pg_stat_wal_receiver").fetchone()
    except psycopg.Error:
        row = None
    if row is not None and (row[0], row[1]) == (spec.upstream_host, spec.upstream_port):
        return False
    _rewrite_upstream(spec)
    return True


def _adopt_role(old: PostgresSpec, new: PostgresSpec, state: PostgresState) -> PostgresState:
    """Record a role a runbook already gave the running server; never restart it."""
    check_role_change(old, new.role, running=True)
    if new.role == "primary":
        # A promoted server has no standby.signal; one left behind would make the next
        # restart come up as a standby. Only removed because the server is a primary.
        (new.data_dir / "standby.signal").unlink(missing_ok=True)
    _write_config(new)
    if new.role == "standby":
        _follow(new)
    if not signal_process(state.process, signal.SIGHUP):
        raise StartError(f"postgres {new.name!r}: server is not running; cannot reload")
    return state


def reconfigure(old: PostgresSpec, new: PostgresSpec, state: PostgresState) -> PostgresState:
    """Apply ``new`` to a running server: reload, or restart if its address changed.

    The data dir and users cannot change in place (that is a new server). A role
    change is accepted only when the server already has the new role (a runbook moved
    it, see :func:`check_role_change`): it is adopted as it runs, reloaded, not restarted.
    """
    for fixed in ("data_dir", "name", "app_user", "app_database", "replication_user"):
        if getattr(old, fixed) != getattr(new, fixed):
            raise InvalidSpecError(
                f"postgres {new.name!r}: {fixed} cannot change in place; replace the server"
            )
    if old.role != new.role and (old.host, old.port) == (new.host, new.port):
        return _adopt_role(old, new, state)
    if old.role != new.role:
        raise InvalidSpecError(
            f"postgres {new.name!r}: role and address cannot change in one update")
    restart = any(getattr(old, f) != getattr(new, f) for f in _RESTART_FIELDS)
    restart = restart or (old.upstream_host, old.upstream_port) != (
        new.upstream_host, new.upstream_port
    )
    if restart:
        if (old.host, old.port) != (new.host, new.port):
            ensure_port_free(new.host, new.port, what=f"postgres {new.name!r}")
        stop_server(state)
        if new.role == "standby":
            _rewrite_upstream(new)
        return start(new)
    _write_config(new)
    if new.role == "primary" and old.app_password != new.app_password:
        _bootstrap_roles(new)
    if not signal_process(state.process, signal.SIGHUP):
        raise StartError(f"postgres {new.name!r}: server is not running; cannot reload")
    return state


def _rewrite_upstream(spec: PostgresSpec) -> None:
    # pg_basebackup -R wrote primary_conninfo into postgresql.auto.conf; point it elsewhere.
    auto = spec.data_dir / "postgresql.auto.conf"
    lines = [ln for ln in auto.read_text().splitlines() if not ln.startswith("primary_conninfo")]
    conninfo = (
        f"host={spec.upstream_host} port={spec.upstream_port} user={spec.replication_user} "
        f"password={spec.replication_password} application_name={spec.name}"
    )
    lines.append(f"primary_conninfo = '{conninfo}'")
    _write_owned(spec, auto, "\n".join(lines) + "\n")
