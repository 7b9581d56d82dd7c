"""The write ledger: a history of every write the load generator sent, and its outcome.

One JSON object per line, in the style of a Jepsen history:

* ``{"type": "invoke", ...}`` is written and fsync'd *before* the write is sent, with the
  write's idempotency key, the hashes of the fields it writes and the version it expects
  (``expects``, from ``If-Match``). An invoke that never gets its completion (the generator
  crashed, a worker was killed) reads back as an ``indeterminate`` write: nothing that may
  have happened is ever missing from the check.
* the completion (no ``type``) carries the outcome, appended and fsync'd in batches (a crash
  loses at most the last unsynced batch of completions, whose invokes stand in for them):
  ``status`` ``ack`` (2xx: the EHR acknowledged it), ``indeterminate`` (timeout, broken
  connection, 5xx: it may or may not have happened) or ``fail`` (a clean refusal, 4xx or a
  read-only 503: it did not happen).
* ``{"type": "end", "lines", "sha256"}`` closes the file: how many lines precede it and
  their hash, so a part that was cut short or altered is caught by name. A run with several
  workers also writes ``<ledger>.manifest.json`` naming every part that must exist.

Each write says: ``kind``, ``id`` and ``read`` (the resource and the path that reads it
back; an indeterminate *create* has no id: its ``key``, a random token written into the
resource, and ``locate``, a listing that holds it, let ``verify`` find it); ``fields``
(``{field: hash}``; ``hash`` covers them all; values are never stored, so the ledger holds
no PHI); ``region`` (the ``X-Chartguard-Region`` that acknowledged it); ``version`` (the
resource version the EHR returned); ``invoked``/``at`` (epoch seconds it was sent / it
ended); ``idempotency_key`` (the ``Idempotency-Key`` every attempt carried, a random uuid4);
``attempts`` (retries reuse the key); ``replayed`` (the EHR answered from its stored answer).
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
    "History",
    "LedgerEntry",
    "LedgerReader",
    "LedgerWriter",
    "WriteStatus",
    "content_hash",
    "field_hashes",
    "ledger_parts",
    "manifest_path",
    "read_history",
    "read_ledger",
    "write_manifest",
    "write_outcome",
]

MANIFEST_KIND = "chartguard.load.ledger-manifest"
NO_ANSWER = "no answer recorded (the generator stopped before it)"


class WriteStatus(StrEnum):
    ack = "ack"  # the EHR acknowledged it (2xx)
    indeterminate = "indeterminate"  # no answer or 5xx: it may or may not have happened
    fail = "fail"  # cleanly refused (4xx, read-only 503): it did not happen


def write_outcome(http_status: int, body: Mapping[str, Any] | None) -> WriteStatus:
    """What a write's answer means for the ledger: ``ack`` for 2xx; ``indeterminate`` for
    no answer (``http_status`` 0: timeout, broken connection) or 5xx; ``fail`` for a clean
    rejection (4xx, or 503 ``read_only`` from a standby), which wrote nothing."""
    if 200 <= http_status < 300:
        return WriteStatus.ack
    if http_status == 0:
        return WriteStatus.indeterminate
    if http_status >= 500:
        if http_status == 503 and (body or {}).get("error") == "read_only":
            return WriteStatus.fail
        return WriteStatus.indeterminate
    return WriteStatus.fail


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
    invoked: float | None = None
    expects: int | None = None

    @property
    def started(self) -> float:
        """When the write was first sent (its answer's time for older ledgers)."""
        return self.at if self.invoked is None else self.invoked

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
                invoked=None if data.get("invoked") is None else float(data["invoked"]),
                expects=None if data.get("expects") is None else int(data["expects"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise LedgerError(f"ledger entry is malformed ({type(e).__name__}: {e})") from e

    @property
    def ref(self) -> str:
        """A PHI-free reference for reports: ``worker#seq kind/id``."""
        return f"{self.worker}#{self.seq} {self.kind}/{self.id or '?'}"


@dataclass
class LedgerWriter:
    """Appends a history: :meth:`invoke` before a write is sent (fsync'd at once),
    :meth:`append` for its outcome (fsync'd every ``fsync_entries`` entries or
    ``fsync_seconds``), and the closing line on :meth:`close`.

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
    _open: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _digest: Any = field(default_factory=hashlib.sha256, init=False, repr=False)
    _lines: int = field(default=0, init=False)
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

    def _line(self, text: str) -> None:
        if self._file is None:
            raise LedgerError(f"ledger {self.path} is closed")
        line = text + "\n"
        self._file.write(line)
        self._digest.update(line.encode("utf-8"))
        self._lines += 1

    def invoke(self, entry: LedgerEntry) -> LedgerEntry:
        """Record that ``entry``'s write is about to be sent; durable when this returns.

        ``entry`` needs its ``idempotency_key`` (the completion is matched by it); it is
        stored as indeterminate ("no answer recorded") until :meth:`append` completes it.
        """
        if not entry.idempotency_key:
            raise LedgerError("an invoked write needs its idempotency key")
        with self._lock:
            self._seq += 1
            entry = LedgerEntry(**{
                **asdict(entry), "status": WriteStatus.indeterminate, "error": NO_ANSWER,
                "seq": self._seq, "worker": self.worker,
            })  # fmt: skip
            self._line(json.dumps({"type": "invoke", **json.loads(entry.to_json())}))
            self._open[entry.idempotency_key or ""] = self._seq
            self._sync()
            return entry

    def append(self, entry: LedgerEntry) -> LedgerEntry:
        """Write one outcome (numbered like its invoke, if any); returns it with ``seq`` and
        ``worker`` set."""
        with self._lock:
            seq = self._open.pop(entry.idempotency_key or "", 0)
            if not seq:
                self._seq += 1
                seq = self._seq
            entry = LedgerEntry(**{**asdict(entry), "seq": seq, "worker": self.worker})
            self._line(entry.to_json())
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
        """Write the closing line (lines so far and their hash) and close the file."""
        with self._lock:
            if self._file is None:
                return
            end = {"type": "end", "lines": self._lines, "sha256": self._digest.hexdigest()}
            self._file.write(json.dumps(end) + "\n")
            self._sync()
            self._file.close()
            self._file = None


def manifest_path(path: str | Path) -> Path:
    """Where a run with several workers names its ledger parts: ``<ledger>.manifest.json``."""
    return Path(f"{path}.manifest.json")


def write_manifest(path: str | Path, workers: int) -> Path:
    """Name the ``workers`` parts (``<ledger>.worker-0..N-1``) a run's ledger must have."""
    target = manifest_path(path)
    parts = [f"{Path(path).name}.worker-{i}" for i in range(workers)]
    document = {"kind": MANIFEST_KIND, "workers": workers, "parts": parts}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise LedgerError(f"cannot write ledger manifest {target}: {e.strerror}") from e
    return target


def ledger_parts(path: str | Path) -> list[Path]:
    """The ledger file and its per-worker parts (``<path>.worker-N``), those that exist."""
    path = Path(path)
    parts = [path] if path.exists() else []
    parts += sorted(path.parent.glob(path.name + ".worker-*"))
    return parts


@dataclass
class History:
    """A ledger as read: its writes (an invoke without completion as indeterminate), the
    torn last lines skipped, and what is wrong with its parts (missing, unclosed, short)."""

    entries: list[LedgerEntry]
    torn_lines: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class LedgerReader:
    """Reads a ledger (with its worker parts), skipping torn lines and counting them, and
    noting in ``problems`` every part the manifest names that is missing, and every part
    that does not end with a closing line that matches its content."""

    path: Path
    torn_lines: int = 0
    problems: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[LedgerEntry]:
        parts = ledger_parts(self.path)
        self._check_manifest(parts)
        if not parts:
            raise LedgerError(f"no ledger at {self.path} (nor any {self.path}.worker-N part)")
        for part in parts:
            yield from self._read(part)

    def _check_manifest(self, parts: list[Path]) -> None:
        manifest = manifest_path(self.path)
        workers = [p.name for p in parts if p != self.path]
        if not manifest.exists():
            if workers:
                self.problems.append(
                    f"{len(workers)} worker part(s) but no {manifest.name} naming how many "
                    "there should be: a missing part would go unnoticed"
                )
            return
        try:
            document = json.loads(manifest.read_text(encoding="utf-8"))
            expected = [str(name) for name in document["parts"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise LedgerError(f"ledger manifest {manifest} is unreadable ({e})") from e
        for name in expected:
            if name not in workers:
                self.problems.append(
                    f"ledger part {name} is missing ({len(expected)} workers wrote parts; "
                    "copy every remote worker's part next to the ledger)"
                )
        for name in workers:
            if name not in expected:
                self.problems.append(f"ledger part {name} is not in {manifest.name}")

    def _read(self, part: Path) -> Iterable[LedgerEntry]:
        try:
            lines = part.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise LedgerError(f"cannot read ledger {part}: {e.strerror}") from e
        invoked: dict[str, LedgerEntry] = {}
        digest, count, closed = hashlib.sha256(), 0, False
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
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "end":
                if data.get("lines") != count or data.get("sha256") != digest.hexdigest():
                    self.problems.append(
                        f"ledger part {part.name} is short or altered: its closing line "
                        f"(line {number}) counts {data.get('lines')} lines before it, "
                        f"the file holds {count} that hash differently"
                    )
                digest, count, closed = hashlib.sha256(), 0, True
                continue
            digest.update((line + "\n").encode("utf-8"))
            count, closed = count + 1, False
            entry = LedgerEntry.from_dict(data)
            if kind == "invoke":
                invoked[entry.idempotency_key or ""] = entry
                continue
            invoked.pop(entry.idempotency_key or "", None)
            yield entry
        if not closed:
            self.problems.append(
                f"ledger part {part.name} has no closing line: its writer stopped before "
                "the end of the run (crashed, killed, or still running)"
            )
        yield from invoked.values()  # sent, never answered: their fate is open


def read_history(path: str | Path) -> History:
    """The whole history of a ledger and its worker parts, with what is wrong with them."""
    reader = LedgerReader(Path(path))
    entries = list(reader)
    return History(entries, reader.torn_lines, reader.problems)


def read_ledger(path: str | Path) -> tuple[list[LedgerEntry], int]:
    """All entries of a ledger and its worker parts, and how many torn lines were skipped."""
    history = read_history(path)
    return history.entries, history.torn_lines
