"""The write ledger: every write the load generator sent, and what became of it.

One JSON object per line, appended and fsync'd in batches (so a crash loses at most the
last unsynced batch of *records*, never the meaning of the ones on disk; a torn last line
is skipped when reading). Each entry says:

* ``status``: ``ack`` (the EHR answered 2xx: it acknowledged the write) or ``indeterminate``
  (the request timed out, the connection broke, or the EHR answered 5xx: the write may or
  may not have happened). Clean rejections (4xx, and 503 ``read_only``) are not writes and
  are not recorded.
* ``kind``, ``id`` and ``read``: the resource and the path that reads it back. An
  indeterminate *create* has no id; its ``key`` (a random token written into the resource)
  and ``locate`` (a path whose JSON answer lists it) let ``verify`` find it if it exists.
* ``fields``: ``{field: hash}`` of every field written; ``hash`` covers them all. Values are
  never stored, only hashes, so the ledger holds no PHI.
* ``region``: the ``X-Chartguard-Region`` that acknowledged it; ``version``: the resource
  version the EHR returned (orders concurrent writes of one resource); ``at``: epoch seconds.
* ``idempotency_key``: the ``Idempotency-Key`` every attempt of the write carried (a random
  uuid4, not PHI); ``attempts``: how many requests it took (retries reuse the key, so a
  write acknowledged on a later attempt happened once); ``replayed``: the EHR answered from
  its stored answer (an earlier attempt had been applied but its answer was lost).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from loadtests.errors import LedgerError

__all__ = [
    "LedgerEntry",
    "LedgerReader",
    "LedgerWriter",
    "WriteStatus",
    "content_hash",
    "field_hashes",
    "ledger_parts",
    "read_ledger",
    "write_outcome",
]


class WriteStatus(StrEnum):
    ack = "ack"
    indeterminate = "indeterminate"


def write_outcome(http_status: int, body: Mapping[str, Any] | None) -> WriteStatus | None:
    """What a write's answer means for the ledger: ``ack`` for 2xx; ``indeterminate`` for
    no answer (``http_status`` 0: timeout, broken connection) or 5xx; None for a clean
    rejection (4xx, or 503 ``read_only`` from a standby), which wrote nothing."""
    if 200 <= http_status < 300:
        return WriteStatus.ack
    if http_status == 0:
        return WriteStatus.indeterminate
    if http_status >= 500:
        if http_status == 503 and (body or {}).get("error") == "read_only":
            return None
        return WriteStatus.indeterminate
    return None


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def content_hash(value: Any) -> str:
    """SHA-256 (hex, 32 chars) of a JSON value in canonical form."""
    return hashlib.sha256(_canonical(value)).hexdigest()[:32]


def field_hashes(values: Mapping[str, Any]) -> dict[str, str]:
    """``{field: content_hash(value)}`` for the fields of a write."""
    return {name: content_hash(value) for name, value in values.items()}


@dataclass(frozen=True)
class LedgerEntry:
    """One write and its outcome (see the module docstring for the fields)."""

    status: WriteStatus
    op: str
    kind: str
    practice: str
    fields: Mapping[str, str]
    hash: str
    at: float
    id: str | None = None
    read: str | None = None
    key: str | None = None
    locate: str | None = None
    region: str | None = None
    version: int | None = None
    http_status: int | None = None
    error: str | None = None
    worker: str = "local"
    seq: int = 0
    idempotency_key: str | None = None
    attempts: int = 1
    replayed: bool | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        data["fields"] = dict(self.fields)
        return json.dumps({k: v for k, v in data.items() if v is not None}, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerEntry:
        try:
            return cls(
                status=WriteStatus(data["status"]),
                op=str(data["op"]),
                kind=str(data["kind"]),
                practice=str(data["practice"]),
                fields={str(k): str(v) for k, v in dict(data["fields"]).items()},
                hash=str(data["hash"]),
                at=float(data["at"]),
                id=None if data.get("id") is None else str(data["id"]),
                read=data.get("read"),
                key=data.get("key"),
                locate=data.get("locate"),
                region=data.get("region"),
                version=None if data.get("version") is None else int(data["version"]),
                http_status=data.get("http_status"),
                error=data.get("error"),
                worker=str(data.get("worker", "local")),
                seq=int(data.get("seq", 0)),
                idempotency_key=data.get("idempotency_key"),
                attempts=int(data.get("attempts", 1)),
                replayed=data.get("replayed"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise LedgerError(f"ledger entry is malformed ({type(e).__name__}: {e})") from e

    @property
    def ref(self) -> str:
        """A PHI-free reference for reports: ``worker#seq kind/id``."""
        return f"{self.worker}#{self.seq} {self.kind}/{self.id or '?'}"


@dataclass
class LedgerWriter:
    """Appends entries; fsyncs every ``fsync_entries`` entries or ``fsync_seconds``.

    Thread-safe (Locust users are greenlets, but the runner's sampler may flush from another
    greenlet or thread). Use as a context manager or call :meth:`close`.
    """

    path: Path
    worker: str = "local"
    fsync_entries: int = 64
    fsync_seconds: float = 0.5
    _file: IO[str] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _pending: int = field(default=0, init=False)
    _last_sync: float = field(default_factory=time.monotonic, init=False)
    _seq: int = field(default=0, init=False)
    counts: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as e:
            raise LedgerError(f"cannot open ledger {self.path}: {e.strerror}") from e

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, entry: LedgerEntry) -> LedgerEntry:
        """Write one entry (numbered by this writer); returns it with ``seq`` and ``worker`` set."""
        with self._lock:
            if self._file is None:
                raise LedgerError(f"ledger {self.path} is closed")
            self._seq += 1
            entry = LedgerEntry(**{**asdict(entry), "seq": self._seq, "worker": self.worker})
            self._file.write(entry.to_json() + "\n")
            self._pending += 1
            self.counts[entry.status.value] = self.counts.get(entry.status.value, 0) + 1
            if (
                self._pending >= self.fsync_entries
                or time.monotonic() - self._last_sync >= self.fsync_seconds
            ):
                self._sync()
            return entry

    def flush(self) -> None:
        """Force the pending batch to disk."""
        with self._lock:
            if self._file is not None and self._pending:
                self._sync()

    def _sync(self) -> None:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._pending = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._file is None:
                return
            self._sync()
            self._file.close()
            self._file = None


def ledger_parts(path: str | Path) -> list[Path]:
    """The ledger file and its per-worker parts (``<path>.worker-N``), those that exist."""
    path = Path(path)
    parts = [path] if path.exists() else []
    parts += sorted(path.parent.glob(path.name + ".worker-*"))
    return parts


@dataclass
class LedgerReader:
    """Reads a ledger (with its worker parts), skipping torn lines and counting them."""

    path: Path
    torn_lines: int = 0

    def __iter__(self) -> Iterator[LedgerEntry]:
        parts = ledger_parts(self.path)
        if not parts:
            raise LedgerError(f"no ledger at {self.path} (nor any {self.path}.worker-N part)")
        for part in parts:
            yield from self._read(part)

    def _read(self, part: Path) -> Iterable[LedgerEntry]:
        try:
            lines = part.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise LedgerError(f"cannot read ledger {part}: {e.strerror}") from e
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                # Only the last line can be torn by a crash mid-write; anything else is damage.
                if number == len(lines):
                    self.torn_lines += 1
                    continue
                raise LedgerError(f"{part}:{number} is not JSON") from e
            yield LedgerEntry.from_dict(data)


def read_ledger(path: str | Path) -> tuple[list[LedgerEntry], int]:
    """All entries of a ledger and its worker parts, and how many torn lines were skipped."""
    reader = LedgerReader(Path(path))
    entries = list(reader)
    return entries, reader.torn_lines
