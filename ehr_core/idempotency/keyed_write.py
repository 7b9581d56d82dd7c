"""One keyed write, from its lookup to the commit that stores its answer with it.

The write and its answer commit in ONE transaction, so an acknowledged write always has
its key and a crash leaves neither. Because the answer (the response body) exists only
after the route returned, a keyed write's commit moves from the route's
:meth:`~ehr_core.api.deps.AuditTrail.write` to :meth:`KeyedWrite.finish`, which the
middleware calls with the rendered response before any byte of it leaves. The audit
entries are appended there too, as the last statements before the commit (the practice's
chain head stays locked only from there to the commit).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
from collections.abc import Callable

from sqlalchemy.orm import Session

from ehr_core import audit
from ehr_core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
from ehr_core.idempotency import store
from ehr_core.idempotency.key import HEADER, RequestKey
from ehr_core.models import IdempotencyRecord, utcnow

#: Response headers kept with a stored answer (others are per-response or per-region).
STORED_HEADERS = frozenset({"content-type", "content-location", "location", "etag"})
#: Every PURGE_EVERY-th keyed write (per process) also deletes up to PURGE_LIMIT expired
#: answers: bounded work, and the table stays about one TTL's worth of keyed writes.
PURGE_EVERY = 32
PURGE_LIMIT = 200
_writes = itertools.count(1)


@dataclasses.dataclass(frozen=True, slots=True)
class StoredResponse:
    """A stored answer: status, the kept headers and the body bytes."""

    status_code: int
    headers: dict[str, str]
    body: bytes


class Replay(Exception):  # noqa: N818 -- not an error: the route is answered from the store
    """Raised before the route runs when the key already has a stored answer."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("replay of a stored answer")
        self.response = response


class Phase(enum.StrEnum):
    parsed = "parsed"  # header read, not looked up yet
    armed = "armed"  # looked up: no answer stored; this request holds the key
    pending = "pending"  # the route wrote; its transaction waits for the response
    committed = "committed"
    discarded = "discarded"


class KeyedWrite:
    """The idempotency state of one request that carries an ``Idempotency-Key``."""

    def __init__(self, request_key: RequestKey, *, ttl_seconds: int) -> None:
        self.request_key = request_key
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.phase = Phase.parsed
        self.session: Session | None = None
        self.user_id = 0
        self.practice_id = 0
        self._events: list[audit.AuditEvent] = []
        self._after_commit: list[Callable[[], None]] = []
        self._expired_id: int | None = None
        #: What became of the key (a metric label): replayed, reused, in_flight, stored,
        #: discarded (the write failed: nothing stored); None while undecided.
        self.outcome: str | None = None

    @property
    def armed(self) -> bool:
        return self.phase in (Phase.armed, Phase.pending)

    @property
    def pending(self) -> bool:
        return self.phase is Phase.pending

    def begin(self, session: Session, *, user_id: int, practice_id: int) -> None:
        """Look the key up for this user (one indexed query; on PostgreSQL first the
        in-flight lock). Raises :class:`Replay` with the stored answer,
        :class:`IdempotencyKeyReused` (another request had this key) or
        :class:`IdempotencyKeyInFlight`; otherwise this request goes ahead holding the key."""
        key = self.request_key
        if not store.try_lock(session, user_id, key.key):
            self.outcome = "in_flight"
            raise IdempotencyKeyInFlight(HEADER)
        record = store.find(session, user_id, key.key)
        if record is not None:
            if record.created_at > utcnow() - self.ttl:
                if (record.method, record.path, record.request_sha256) != (
                    key.method,
                    key.path,
                    key.request_sha256,
                ):
                    self.outcome = "reused"
                    raise IdempotencyKeyReused(HEADER)
                self.outcome = "replayed"
                raise Replay(
                    StoredResponse(
                        status_code=record.status_code,
                        headers=dict(record.headers),
                        body=bytes(record.body),
                    )
                )
            self._expired_id = record.id  # replaced by this request's answer at commit
        self.session = session
        self.user_id = user_id
        self.practice_id = practice_id
        self.phase = Phase.armed

    def defer(self, event: audit.AuditEvent) -> None:
        """Hold the write's audit entry and commit until :meth:`finish`."""
        if not self.armed:
            raise RuntimeError("defer() before begin()")
        self._events.append(event)
        self.phase = Phase.pending

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the write has committed (e.g. start a job that reads it)."""
        self._after_commit.append(action)

    def finish(self, *, status_code: int, headers: dict[str, str], body: bytes) -> None:
        """Commit the write with its answer when the response is a success (2xx); roll
        it back otherwise (an error is not stored: a retry executes again). Raises what the
        commit raised, after rolling back: then neither the write nor the key exists."""
        session = self.session
        if session is None or not self.pending:
            raise RuntimeError("finish() without a pending write")
        if not 200 <= status_code < 300:
            session.rollback()
            self.phase = Phase.discarded
            self.outcome = "discarded"
            return
        try:
            now = utcnow()
            if self._expired_id is not None:
                # Before the insert: (user_id, key) is unique. A statement, not an ORM
                # delete: a purge may have removed the row meanwhile, which is fine.
                store.remove(session, self._expired_id)
            if next(_writes) % PURGE_EVERY == 0:
                store.purge_expired(session, before=now - self.ttl, limit=PURGE_LIMIT)
            key = self.request_key
            session.add(
                IdempotencyRecord(
                    practice_id=self.practice_id,
                    user_id=self.user_id,
                    key=key.key,
                    method=key.method,
                    path=key.path,
                    request_sha256=key.request_sha256,
                    status_code=status_code,
                    headers={k: v for k, v in headers.items() if k in STORED_HEADERS},
                    body=body,
                    created_at=now,
                )
            )
            session.flush()
            for event in self._events:
                audit.append(session, event)
            session.commit()
        except BaseException:
            session.rollback()
            self.phase = Phase.discarded
            self.outcome = "discarded"
            raise
        self.phase = Phase.committed
        self.outcome = "stored"
        for action in self._after_commit:
            action()


__all__ = ["PURGE_EVERY", "PURGE_LIMIT", "KeyedWrite", "Phase", "Replay", "StoredResponse"]
