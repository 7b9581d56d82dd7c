"""``chartguard load verify``: read every ledger entry back through the EHR's API.

Logs in as the owner of each practice in the ledger (seeded credentials), reads each
resource once from the target (the current primary) and, if given, from the standby, and
classifies every entry with :func:`loadtests.checker.check`. The standby is read with the
primary's session tokens (a standby cannot create sessions; the tokens replicate to it).

Every create is also checked for duplicates: the listing that locates it must hold its
token exactly once (a retry with its ``Idempotency-Key`` must never write twice, and an
indeterminate create must not have landed twice). Listings are read whole, page after
page (``items``/``total``/``page_size``), never a truncated view: a create beyond the
first page is still found, and one found twice on different pages still counts twice.
The ledger's problems (a worker part missing, short or never closed) fail the verdict.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loadtests.checker import Observation, Outcome, Presence, check, resource_key
from loadtests.errors import VerifyError
from loadtests.ledger import LedgerEntry, WriteStatus, content_hash, read_history
from loadtests.preflight import describe_http_error

__all__ = [
    "DUPLICATED",
    "TargetReport",
    "VerifyResult",
    "count_matching",
    "find_by",
    "lookup",
    "verify_ledger",
]

REGION_HEADER = "X-Chartguard-Region"
# Report at most this many entry references per outcome (the counts are always complete).
MAX_REFS = 50
#: A count (and refs) key beside the checker's outcomes: a retried create found twice.
DUPLICATED = "duplicated"


def lookup(document: Any, dotted: str) -> Any:
    """The value at a dotted path (``"address.city"``) of a JSON document; None if absent."""
    value = document
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def count_matching(document: Any, match: Callable[[Mapping[str, Any]], bool]) -> int:
    """How many JSON objects in ``document`` (at any depth) ``match`` holds for."""
    found, stack = 0, [document]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            found += 1 if match(node) else 0
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def find_by(document: Any, match: Callable[[Mapping[str, Any]], bool]) -> Mapping[str, Any] | None:
    """The first JSON object (depth first) in ``document`` for which ``match`` holds."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            if match(node):
                return node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return None


def _contains(node: Mapping[str, Any], token: str) -> bool:
    return "id" in node and any(isinstance(v, str) and token in v for v in node.values())


@dataclass
class TargetReport:
    """Outcomes of the ledger against one EHR endpoint."""

    role: str
    url: str
    counts: dict[str, int]
    refs: dict[str, list[str]]
    regions: dict[str, int]

    @property
    def ok(self) -> bool:
        bad = (Outcome.lost, Outcome.corrupted, Outcome.unexpected, Outcome.unreadable)
        return sum(self.counts.get(o.value, 0) for o in bad) == 0 and not self.counts.get(
            DUPLICATED, 0
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "url": self.url,
            "ok": self.ok,
            "counts": self.counts,
            "refs": self.refs,
            "read_regions": self.regions,
        }


@dataclass
class VerifyResult:
    """The verdict of ``chartguard load verify`` (written as JSON for the gate and report)."""

    ledger: str
    entries: int
    acknowledged: int
    indeterminate: int
    torn_lines: int
    targets: list[TargetReport]
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    refused: int = 0

    @property
    def ok(self) -> bool:
        """Passes only with entries to check, and nothing lost, corrupted or unreadable."""
        return not self.problems and self.entries > 0 and all(t.ok for t in self.targets)

    @property
    def lost(self) -> int:
        return sum(t.counts.get(Outcome.lost.value, 0) for t in self.targets)

    @property
    def corrupted(self) -> int:
        return sum(t.counts.get(Outcome.corrupted.value, 0) for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "chartguard.load.verify",
            "ok": self.ok,
            "ledger": self.ledger,
            "entries": self.entries,
            "acknowledged": self.acknowledged,
            "indeterminate": self.indeterminate,
            "refused": self.refused,
            "torn_lines": self.torn_lines,
            "lost": self.lost,
            "corrupted": self.corrupted,
            "problems": self.problems,
            "seconds": round(self.seconds, 3),
            "targets": [t.to_dict() for t in self.targets],
        }

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


@dataclass
class _Reader:
    """Reads resources from one EHR with per-practice owner sessions."""

    client: httpx.Client
    tokens: dict[str, str]
    retries: int = 3
    max_pages: int = 1000
    _listings: dict[tuple[str, str], tuple[int, Any, str | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def listing(self, practice: str, path: str) -> tuple[int, Any, str | None]:
        """The whole listing at ``path`` (every page), read once per practice and path."""
        key = (practice, path)
        with self._lock:
            if key in self._listings:
                return self._listings[key]
        answer = self._all_pages(practice, path)
        with self._lock:
            return self._listings.setdefault(key, answer)

    def _all_pages(self, practice: str, path: str) -> tuple[int, Any, str | None]:
        status, body, region = self.get(practice, path)
        if status != 200 or not _is_page(body):
            return status, body, region
        items, total = list(body["items"]), int(body["total"])
        page = int(body.get("page") or 1)
        while len(items) < total and body["items"]:
            page += 1
            if page > self.max_pages:
                return 0, None, region  # unreadable rather than judged on a partial view
            status, body, region = self.get(practice, _with_page(path, page))
            if status != 200 or not _is_page(body):
                return 0, None, region  # unreadable: a later page is no proof of absence
            items += body["items"]
        return 200, {"items": items, "total": total}, region

    def get(self, practice: str, path: str) -> tuple[int, Any, str | None]:
        """``(status, json, region)``; status 0 when the EHR could not be reached."""
        token = self.tokens.get(practice)
        if token is None:
            return 0, None, None
        last: tuple[int, Any, str | None] = (0, None, None)
        for attempt in range(self.retries):
            try:
                response = self.client.get(path, headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError:
                last = (0, None, None)
            else:
                region = response.headers.get(REGION_HEADER)
                if response.status_code < 500:
                    body = response.json() if response.status_code == 200 else None
                    return response.status_code, body, region
                last = (response.status_code, None, region)
            time.sleep(0.2 * (attempt + 1))
        return last


def _is_page(body: Any) -> bool:
    return isinstance(body, Mapping) and isinstance(body.get("items"), list) and isinstance(
        body.get("total"), int
    )


def _with_page(path: str, page: int) -> str:
    """``path`` asking for page ``page`` (its other query parameters kept)."""
    url = httpx.URL(path)
    return str(url.copy_set_param("page", str(page)))


def _login(client: httpx.Client, practice: str, password: str) -> str:
    email = f"owner@{practice}.test"
    try:
        response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    except httpx.HTTPError as e:
        raise VerifyError(f"cannot reach {client.base_url} to log in: {type(e).__name__}") from e
    if response.status_code != 200:
        raise VerifyError(
            f"login as the owner of {practice} failed with HTTP {response.status_code}"
        )
    return str(response.json()["token"])


def _observe(reader: _Reader, entries: list[LedgerEntry], workers: int) -> dict[str, Observation]:
    """Read each resource of the ledger once and hash the fields the ledger wrote."""
    wanted: dict[str, set[str]] = {}
    sample: dict[str, LedgerEntry] = {}
    for entry in entries:
        key = resource_key(entry)
        wanted.setdefault(key, set()).update(entry.fields)
        # Prefer an entry that can be read directly over one that must be located.
        if key not in sample or (entry.read and not sample[key].read):
            sample[key] = entry

    def observe(key: str) -> tuple[str, Observation]:
        entry = sample[key]
        if entry.read:
            status, body, region = reader.get(entry.practice, entry.read)
            document = body
        elif entry.locate:
            status, body, region = reader.listing(entry.practice, entry.locate)
            if entry.id is not None:
                wanted_id = entry.id
                document = find_by(body, lambda n: str(n.get("id")) == wanted_id)
            else:
                token = entry.key or "\0"
                document = find_by(body, lambda n: _contains(n, token))
            if status == 200 and document is None:
                status = 404
        else:
            return key, Observation(Presence.unreadable)
        if status == 404:
            return key, Observation(Presence.missing, region=region)
        if status != 200 or document is None:
            return key, Observation(Presence.unreadable, region=region)
        hashes = {name: content_hash(lookup(document, name)) for name in wanted[key]}
        version = document.get("version") if isinstance(document, Mapping) else None
        version = version if isinstance(version, int) and not isinstance(version, bool) else None
        return key, Observation(Presence.present, hashes, region, version)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(observe, list(sample)))


def _duplicates(reader: _Reader, entries: list[LedgerEntry], workers: int) -> list[str]:
    """Refs of creates whose token their (whole) locating listing holds more than once."""
    creates = [e for e in entries if e.op == "create" and e.key and e.locate]

    def copies(entry: LedgerEntry) -> tuple[str, int]:
        token = entry.key or "\0"
        status, body, _region = reader.listing(entry.practice, entry.locate or "")
        found = count_matching(body, lambda n: _contains(n, token)) if status == 200 else 0
        return entry.ref, found

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [ref for ref, found in pool.map(copies, creates) if found > 1]


def _report(
    role: str,
    url: str,
    entries: list[LedgerEntry],
    seen: Mapping[str, Observation],
    duplicates: list[str] | None = None,
) -> TargetReport:
    outcomes = check(entries, seen)
    counts = Counter(outcome.value for outcome in outcomes.values())
    refs: dict[str, list[str]] = {}
    for index, outcome in sorted(outcomes.items()):
        if outcome not in (Outcome.ok, Outcome.unapplied):
            bucket = refs.setdefault(outcome.value, [])
            if len(bucket) < MAX_REFS:
                bucket.append(entries[index].ref)
    regions = Counter(o.region or "?" for o in seen.values() if o.presence is Presence.present)
    full = {o.value: counts.get(o.value, 0) for o in Outcome}
    full[DUPLICATED] = len(duplicates or [])
    if duplicates:
        refs[DUPLICATED] = duplicates[:MAX_REFS]
    return TargetReport(role=role, url=url, counts=full, refs=refs, regions=dict(regions))


def verify_ledger(
    ledger: str | Path,
    *,
    target: str,
    standby: str | None = None,
    password: str,
    timeout: float = 10.0,
    concurrency: int = 16,
    transport: httpx.BaseTransport | None = None,
) -> VerifyResult:
    """Read back every entry of ``ledger`` from ``target`` (and ``standby``) and classify it."""
    started = time.monotonic()
    history = read_history(ledger)
    entries = history.entries
    acknowledged = sum(1 for e in entries if e.status is WriteStatus.ack)
    result = VerifyResult(
        ledger=str(ledger),
        entries=len(entries),
        acknowledged=acknowledged,
        indeterminate=sum(1 for e in entries if e.status is WriteStatus.indeterminate),
        torn_lines=history.torn_lines,
        targets=[],
        problems=list(history.problems),
        refused=sum(1 for e in entries if e.status is WriteStatus.fail),
    )
    if not entries:
        result.problems.append("the ledger has no entries: nothing was verified")
        return result
    practices = sorted({e.practice for e in entries})
    limits = httpx.Limits(max_connections=concurrency)
    endpoints: list[tuple[str, str]] = [("primary", target)]
    if standby:
        endpoints.append(("standby", standby))
    with httpx.Client(base_url=target, timeout=timeout, limits=limits, transport=transport) as c:
        tokens = {practice: _login(c, practice, password) for practice in practices}
    for role, url in endpoints:
        with httpx.Client(base_url=url, timeout=timeout, limits=limits, transport=transport) as c:
            try:
                c.get("/healthz")
            except httpx.HTTPError as e:
                # Its entries all come out unreadable below; say why once, in words.
                result.problems.append(
                    f"cannot reach the {role} at {url} ({describe_http_error(e)}): none of "
                    "its entries could be read; is it running there?"
                )
            reader = _Reader(c, tokens)
            seen = _observe(reader, entries, concurrency)
            duplicates = _duplicates(reader, entries, concurrency)
        result.targets.append(_report(role, url, entries, seen, duplicates))
    result.seconds = time.monotonic() - started
    return result


def summarize(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """Counts of a ledger's entries by status and kind (for the run summary)."""
    counts: Counter[str] = Counter()
    for entry in entries:
        counts[entry.status.value] += 1
        counts[f"{entry.status.value}:{entry.kind}"] += 1
    return dict(counts)
