"""The backup-restore drill: a base backup, restored into a scratch cluster, verified.

1. ``pg_basebackup`` from the primary into a tar backup (``base.tar`` + ``pg_wal.tar``,
   WAL streamed alongside so the backup is self-contained); its size and time recorded.
2. Restore: the tars are unpacked into a scratch data dir and the server started on a
   free loopback port; it replays the WAL in the backup and opens as a primary. Restore
   time is unpack + start until it accepts connections.
3. Verify: marker writes acknowledged through the router just before the backup must be
   in the restored database; with a load ledger, a sample of its acknowledged writes
   made before the backup is also read back through a scratch EHR serving the restored
   database (``loadtests.verify_ledger``).

Everything scratch (cluster, EHR, files) is removed at the end unless ``keep``.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg

from infra.local import ehr, postgres
from infra.local.errors import LocalTargetError
from infra.local.postgres import PostgresSpec
from infra.local.process import child_env
from infra.local.settings import LocalSettings
from runbooks.errors import RunbookError
from runbooks.local.probe import WriteProbe
from runbooks.local.server import stop_postmaster

__all__ = ["DrillResult", "backup_restore"]


@dataclass
class DrillResult:
    source: str
    backup_s: float = 0.0
    backup_bytes: int = 0
    restore_s: float = 0.0
    markers: int = 0
    markers_found: int = 0
    ledger_sampled: int = 0
    ledger_lost: int | None = None
    ledger_corrupted: int | None = None
    problems: list[str] = field(default_factory=list)
    kept: str | None = None

    @property
    def ok(self) -> bool:
        return (not self.problems and self.markers_found == self.markers
                and not self.ledger_lost and not self.ledger_corrupted)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ids(spec: PostgresSpec) -> tuple[int, int] | None:
    if spec.run_as is None or os.geteuid() != 0:
        return None
    import pwd

    entry = pwd.getpwnam(spec.run_as)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, ids: tuple[int, int] | None) -> None:
    if ids is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, *ids)
        for name in dirs + files:
            os.chown(os.path.join(root, name), *ids, follow_symlinks=False)


def _base_backup(source: PostgresSpec, target: Path) -> None:
    ids = _ids(source)
    target.mkdir(parents=True)
    _chown_tree(target, ids)
    conninfo = (f"host={source.host} port={source.port} user={source.replication_user} "
                "application_name=drill")
    try:
        done = subprocess.run(  # noqa: S603 - fixed binary, validated spec
            [str(source.bin_dir / "pg_basebackup"), "-d", conninfo, "-D", str(target),
             "-F", "t", "-X", "stream", "-c", "fast", "--no-password"],
            capture_output=True, text=True, timeout=600, check=False, cwd="/",
            env=child_env({"PGPASSWORD": source.replication_password, "HOME": "/"}),
            user=ids[0] if ids else None, group=ids[1] if ids else None,
            extra_groups=[] if ids else None,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RunbookError(f"pg_basebackup of {source.name!r} failed: {e}") from e
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RunbookError(f"pg_basebackup of {source.name!r} exited {done.returncode}: {tail}")


def _restore(backup: Path, spec: PostgresSpec) -> None:
    spec.data_dir.mkdir(parents=True, mode=0o700)
    with tarfile.open(backup / "base.tar") as tar:
        tar.extractall(spec.data_dir, filter="data")
    with tarfile.open(backup / "pg_wal.tar") as tar:
        tar.extractall(spec.data_dir / "pg_wal", filter="data")
    spec.data_dir.chmod(0o700)
    _chown_tree(spec.data_dir, _ids(spec))
    # A standby.signal in the backup would make the copy wait for a primary forever.
    (spec.data_dir / "standby.signal").unlink(missing_ok=True)
    postgres.start(spec, timeout=120)
    with postgres.connect(spec) as conn:
        # Settings the source carried for its own standbys mean nothing here.
        for name in ("synchronous_standby_names", "synchronous_commit",
                     "default_transaction_read_only"):
            conn.execute(f"ALTER SYSTEM RESET {name}")
        conn.execute("SELECT pg_reload_conf()")


def _sample_ledger(ledger: Path, before: float, size: int, out: Path) -> int:
    from loadtests import LedgerWriter, WriteStatus, read_ledger

    entries, _ = read_ledger(ledger)
    acked = [e for e in entries if e.status is WriteStatus.ack and e.at <= before]
    chosen = random.Random(0).sample(acked, min(size, len(acked)))  # noqa: S311 - a sample
    with LedgerWriter(out, worker="drill-sample") as sample:  # a closed, complete history
        for entry in chosen:
            sample.append(entry)
    return len(chosen)


def backup_restore(
    source: PostgresSpec,
    *,
    work_dir: Path,
    router_url: str | None = None,
    probe_email: str = "owner@practice-0000.test",
    probe_password: str = "",
    markers: int = 20,
    ledger: Path | None = None,
    sample: int = 200,
    chartguard_bin: Path | None = None,
    keep: bool = False,
) -> DrillResult:
    """Run the drill against the primary ``source`` (see the module doc)."""
    result = DrillResult(source=source.name)
    work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="drill-", dir=work_dir))
    scratch.chmod(0o755)
    marker_ids: list[str] = []
    if router_url and markers:
        probe = WriteProbe(router_url, email=probe_email, password=probe_password,
                           interval=0.0).start()
        deadline = time.monotonic() + 30
        while len(probe.result.acknowledged) < markers and time.monotonic() < deadline:
            time.sleep(0.05)
        probe.stop()
        marker_ids = [pid for _, pid in probe.result.acknowledged]
    result.markers = len(marker_ids)
    before = time.time()
    spec = replace(source, name="drill", role="primary", replication="async",
                   sync_standbys=(), upstream_host=None, upstream_port=None,
                   host="127.0.0.1", port=_free_port("127.0.0.1"),
                   data_dir=scratch / "data", log_path=scratch / "postgres.log")
    scratch_ehr: tuple[ehr.EhrSpec, ehr.EhrState] | None = None
    try:
        started = time.monotonic()
        _base_backup(source, scratch / "backup")
        result.backup_s = time.monotonic() - started
        result.backup_bytes = sum(p.stat().st_size for p in (scratch / "backup").iterdir())
        started = time.monotonic()
        _restore(scratch / "backup", spec)
        result.restore_s = time.monotonic() - started
        if marker_ids:
            with postgres.connect(spec, dbname=spec.app_database) as conn:
                row = conn.execute("SELECT count(*) FROM patients WHERE id::text = ANY(%s)",
                                   (marker_ids,)).fetchone()
            result.markers_found = int(row[0]) if row else 0
        if ledger is not None:
            from loadtests import verify_ledger

            sample_path = scratch / "ledger-sample.jsonl"
            result.ledger_sampled = _sample_ledger(ledger, before, sample, sample_path)
            if result.ledger_sampled:
                espec = ehr.EhrSpec(region="drill", role="primary", host="127.0.0.1",
                                    port=_free_port("127.0.0.1"), workers=1,
                                    db_url=postgres.app_dsn(spec), work_dir=scratch / "ehr",
                                    log_path=scratch / "ehr.log",
                                    chartguard_bin=chartguard_bin or LocalSettings().chartguard_bin)
                scratch_ehr = (espec, ehr.start(espec))
                verified = verify_ledger(sample_path, target=espec.url,
                                         password=probe_password)
                result.ledger_lost = verified.lost
                result.ledger_corrupted = verified.corrupted
                result.problems += verified.problems
            else:
                result.problems.append("the ledger has no acknowledged write before the backup")
    except (LocalTargetError, psycopg.Error, OSError, tarfile.TarError) as e:
        raise RunbookError(f"backup-restore drill failed: {e}") from e
    finally:
        if scratch_ehr is not None:
            ehr.stop_server(scratch_ehr[1])
        if keep:
            result.kept = str(scratch)
        else:
            stop_postmaster(spec, timeout=30)
            shutil.rmtree(scratch, ignore_errors=True)
    return result
