"""A real, throw-away PostgreSQL cluster for tests (and its hot standby), self-contained.

Usage::

    from tests.support.postgres import PostgresCluster

    with PostgresCluster.start() as pg:              # initdb + pg_ctl start, 127.0.0.1:<free port>
        pg.create_database("app")
        url = pg.url("app")                          # postgresql://postgres@127.0.0.1:PORT/app
        with pg.start_standby() as standby:          # pg_basebackup -R, streaming hot standby
            standby.wait_caught_up(pg)
    # both stopped (immediate mode) and their directories removed, also on failure

- Each cluster lives in its own temp directory (data, log, unix socket), listens on
  127.0.0.1 only, trusts local connections, and runs with ``fsync=off`` for speed: never
  use it for data you care about.
- initdb refuses to run as root; as root the helper runs every PostgreSQL binary as the
  unprivileged ``postgres`` system user (``runuser``), creating that user when missing, and
  hands it the temp directory.
- Binaries come from ``$CHARTGUARD_PG_BINDIR`` or the newest ``/usr/lib/postgresql/*/bin``.
- :meth:`PostgresCluster.stop` is idempotent and also registered with :mod:`atexit`, so a
  crashed test session does not leave servers behind.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql

SUPERUSER = "postgres"
OS_USER = "postgres"
FAST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "hot_standby": "on",
    "wal_keep_size": "256MB",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
}


class PostgresError(RuntimeError):
    """A PostgreSQL helper step failed; the message includes the server log's tail."""


def bindir() -> Path:
    env = os.environ.get("CHARTGUARD_PG_BINDIR")
    if env:
        return Path(env)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    if not candidates:
        raise PostgresError(
            "no PostgreSQL binaries found (install postgresql or set CHARTGUARD_PG_BINDIR)"
        )
    return Path(candidates[-1])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _as_root() -> bool:
    return os.geteuid() == 0


def _ensure_os_user() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/bin/false", OS_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(OS_USER)
    return entry.pw_uid, entry.pw_gid


def _run(argv: list[str], *, what: str, timeout: float = 120, log: Path | None = None) -> None:
    cmd = (["runuser", "-u", OS_USER, "--"] if _as_root() else []) + argv
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        tail = ""
        if log is not None and log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise PostgresError(
            f"{what} failed (exit {result.returncode}): {result.stderr.strip()}\n{tail}".strip()
        )


class PostgresCluster:
    """One running PostgreSQL server in a temp directory. Use :meth:`start`."""

    def __init__(self, *, root: Path, port: int, host: str = "127.0.0.1") -> None:
        self.root = root
        self.datadir = root / "data"
        self.socket_dir = root / "sock"
        self.logfile = root / "server.log"
        self.port = port
        self.host = host
        self._stopped = False
        self._children: list[PostgresCluster] = []

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    def start(
        cls, *, settings: Mapping[str, str] | None = None, timeout: float = 60
    ) -> PostgresCluster:
        """initdb a fresh cluster and start it on a free loopback port."""
        cluster = cls(root=_make_root("primary"), port=free_port())
        atexit.register(cluster.stop)
        try:
            _run(
                [
                    str(bindir() / "initdb"),
                    "-D",
                    str(cluster.datadir),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                what="initdb",
            )
            cluster._configure({**FAST_SETTINGS, **(settings or {})})
            cluster._pg_ctl_start(timeout)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def start_standby(
        self, *, settings: Mapping[str, str] | None = None, timeout: float = 60
    ) -> PostgresCluster:
        """A streaming hot standby of this cluster (``pg_basebackup -R``), started and
        connected; it is stopped together with this cluster at the latest."""
        standby = PostgresCluster(root=_make_root("standby"), port=free_port())
        atexit.register(standby.stop)
        self._children.append(standby)
        try:
            _run(
                [
                    str(bindir() / "pg_basebackup"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    SUPERUSER,
                    "-D",
                    str(standby.datadir),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ],
                what="pg_basebackup",
            )
            standby._configure({**FAST_SETTINGS, **(settings or {})})
            standby._pg_ctl_start(timeout)
            standby._wait(
                lambda: standby.scalar("SELECT status FROM pg_stat_wal_receiver") == "streaming",
                timeout,
                "standby to start streaming",
            )
        except BaseException:
            standby.stop()
            raise
        return standby

    def stop(self) -> None:
        """Stop immediately (no checkpoint: the data is disposable) and remove the dir."""
        if self._stopped:
            return
        self._stopped = True
        for child in self._children:
            child.stop()
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                _run(
                    [
                        str(bindir() / "pg_ctl"),
                        "-D",
                        str(self.datadir),
                        "-m",
                        "immediate",
                        "-w",
                        "-t",
                        "20",
                        "stop",
                    ],
                    what="pg_ctl stop",
                    timeout=30,
                )
            self._kill_leftover()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- connections ------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``dbname`` as the superuser over TCP."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    @contextlib.contextmanager
    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Iterator[psycopg.Connection]:
        conn = psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5, **kwargs)
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, sql: str, params: Any = None, *, dbname: str = "postgres") -> None:
        with self.connect(dbname) as conn:
            conn.execute(sql, params)  # type: ignore[arg-type]

    def scalar(self, sql: str, params: Any = None, *, dbname: str = "postgres") -> Any:
        with self.connect(dbname) as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
            return None if row is None else row[0]

    def create_database(self, name: str, *, template: str | None = None) -> None:
        quoted = psycopg.sql.Identifier(name).as_string()
        extra = f" TEMPLATE {psycopg.sql.Identifier(template).as_string()}" if template else ""
        self.execute(f"CREATE DATABASE {quoted}{extra}")

    def drop_database(self, name: str) -> None:
        self.execute(
            f"DROP DATABASE IF EXISTS {psycopg.sql.Identifier(name).as_string()} WITH (FORCE)"
        )

    # -- replication ------------------------------------------------------------------
    def wait_caught_up(self, primary: PostgresCluster, timeout: float = 30) -> None:
        """Block until this standby replayed everything ``primary`` has written so far."""
        target = primary.scalar("SELECT pg_current_wal_insert_lsn()::text")
        self._wait(
            lambda: bool(self.scalar("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))),
            timeout,
            "standby to replay the primary's WAL",
        )

    def promote(self, timeout: float = 30) -> None:
        _run(
            [
                str(bindir() / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-w",
                "-t",
                str(int(timeout)),
                "promote",
            ],
            what="pg_ctl promote",
            log=self.logfile,
        )

    # -- internals --------------------------------------------------------------------
    def _configure(self, settings: Mapping[str, str]) -> None:
        lines = {
            **settings,
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        text = "\n# chartguard test settings\n" + "".join(
            f"{key} = {value}\n" for key, value in lines.items()
        )
        conf = self.datadir / "postgresql.conf"
        with conf.open("a") as f:
            f.write(text)
        # The standby copies the primary's postgresql.auto.conf; ours only holds
        # primary_conninfo from -R, which must stay.

    def _pg_ctl_start(self, timeout: float) -> None:
        _run(
            [
                str(bindir() / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ],
            what="pg_ctl start",
            timeout=timeout + 10,
            log=self.logfile,
        )

    def _wait(self, check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except psycopg.Error as e:
                last = e
            time.sleep(0.1)
        raise PostgresError(f"timed out after {timeout:g}s waiting for {what} ({last})")

    def _kill_leftover(self) -> None:
        pidfile = self.datadir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)


def _make_root(kind: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"chartguard-pg-{kind}-"))
    (root / "sock").mkdir()
    if _as_root():
        uid, gid = _ensure_os_user()
        for path in (root, root / "sock"):
            os.chown(path, uid, gid)
    os.chmod(root, 0o700)
    return root
