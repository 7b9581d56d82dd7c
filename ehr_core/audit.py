"""The tamper-evident audit log: one hash chain per practice.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own fields,
so changing, deleting or reordering any entry breaks every later link. The practice's
:class:`~ehr_core.models.AuditHead` row holds the latest link; appends lock it
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite transactions are already serialized), so
concurrent workers extend the chain one at a time.

On PostgreSQL an append is one call of the ``chartguard_audit_append`` function
(migration 0004): lock the head, hash, insert, move the head, all inside the server. The
head lock is every practice's one point of serialization, so it must not be held while a
client thinks: with the lock taken, read and hashed in Python, a busy worker (GIL, CPU
shared with the database) held it across three round trips and capped a practice's whole
request rate. Reads go further and append in an autocommitted statement of their own
(:func:`append_now`), which releases the lock before the answer even leaves the server.

Entries hold ids and action names only, never patient data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from ehr_core.fastquery import run_on_driver
from ehr_core.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
_spool_lock = threading.Lock()


@dataclasses.dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, to which record, by whom, from where."""

    practice_id: int
    action: str
    resource_type: str
    resource_id: str | None = None
    patient_id: int | None = None
    user_id: int | None = None
    remote_addr: str | None = None


def entry_hash(
    prev_hash: str, *, practice_id: int, seq: int, at: dt.datetime, event: AuditEvent
) -> str:
    """The chain link of one entry (canonical JSON, so both dialects agree)."""
    payload = json.dumps(
        [
            prev_hash,
            practice_id,
            seq,
            at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            event.user_id,
            event.action,
            event.resource_type,
            event.resource_id,
            event.patient_id,
            event.remote_addr,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def init_chain(session: Session, practice_id: int) -> None:
    """Create the practice's empty chain head (call when creating a practice)."""
    session.execute(insert(AuditHead).values(practice_id=practice_id, seq=0, hash=GENESIS))


# Statements built once (bind parameters only): building Core statements per request
# costs more CPU than the rest of an audited read.
_HEAD = (
    select(AuditHead.seq, AuditHead.hash)
    .where(AuditHead.practice_id == bindparam("p_practice_id"))
    .with_for_update()
)
_ENTRY_COLUMNS = (
    "practice_id",
    "seq",
    "at",
    "user_id",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "remote_addr",
    "prev_hash",
    "hash",
)
# Bind names differ from column names: SQLAlchemy reserves those for its own VALUES/SET.
_ENTRY = insert(AuditEntry).values({name: bindparam(f"p_{name}") for name in _ENTRY_COLUMNS})
_MOVE_HEAD = (
    update(AuditHead)
    .where(AuditHead.practice_id == bindparam("p_practice_id"))
    .values(seq=bindparam("p_seq"), hash=bindparam("p_hash"))
)
# PostgreSQL: the whole append server-side (migration 0004).
_APPEND_CALL = text(
    "SELECT chartguard_audit_append(:p_practice_id, :p_user_id, :p_action, :p_resource_type,"
    " :p_resource_id, :p_patient_id, :p_remote_addr, :p_tail, :p_durable)"
)


def _call_params(event: AuditEvent, durable: bool) -> dict[str, object]:
    """Arguments of ``chartguard_audit_append``. ``p_tail`` is the end of the hashed JSON
    array after the timestamp, written by :func:`json.dumps` exactly as :func:`entry_hash`
    writes it, so the server never has to escape a string the way Python would."""
    tail = json.dumps(
        [
            event.user_id,
            event.action,
            event.resource_type,
            event.resource_id,
            event.patient_id,
            event.remote_addr,
        ],
        separators=(",", ":"),
    )[1:]
    return {
        "p_practice_id": event.practice_id,
        "p_user_id": event.user_id,
        "p_action": event.action,
        "p_resource_type": event.resource_type,
        "p_resource_id": event.resource_id,
        "p_patient_id": event.patient_id,
        "p_remote_addr": event.remote_addr,
        "p_tail": tail,
        "p_durable": durable,
    }


def append(session: Session, event: AuditEvent, *, durable: bool = True) -> int:
    """Append ``event`` to its practice's chain inside the caller's transaction.

    Returns the new entry's sequence number. The caller commits; until then the head row
    stays locked, so keep this the last statement before the commit. ``durable=False``
    (PostgreSQL) commits this transaction with ``synchronous_commit = off``.

    On PostgreSQL this is one round trip (``chartguard_audit_append``); on SQLite, whose
    transactions are serialized anyway, the head is read and moved from Python.
    """
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(_APPEND_CALL, _call_params(event, durable)).scalar_one())
    head = session.execute(_HEAD, {"p_practice_id": event.practice_id}).first()
    if head is None:
        init_chain(session, event.practice_id)
        seq, prev = 1, GENESIS
    else:
        seq, prev = head.seq + 1, head.hash
    at = utcnow()
    digest = entry_hash(prev, practice_id=event.practice_id, seq=seq, at=at, event=event)
    values = {
        "practice_id": event.practice_id,
        "seq": seq,
        "at": at,
        "user_id": event.user_id,
        "action": event.action,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "patient_id": event.patient_id,
        "remote_addr": event.remote_addr,
        "prev_hash": prev,
        "hash": digest,
    }
    params = {f"p_{name}": value for name, value in values.items()}
    session.execute(_ENTRY, params)
    session.execute(_MOVE_HEAD, params)
    return seq


def append_now(engine: Engine, event: AuditEvent, *, durable: bool = False) -> int:
    """Append ``event`` in a transaction of its own, committed before this returns.

    For reads: the caller has finished (committed or rolled back) its read, and sends the
    answer only after this returned, so nothing is ever served unaudited. On PostgreSQL
    the append is a single autocommitted statement, so the chain lock is released inside
    the server, without waiting for this process to send ``COMMIT``. ``durable=False``
    (the default here) lets the commit skip the WAL flush wait, see
    :class:`ehr_core.api.deps.AuditTrail`.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            return int(conn.execute(_APPEND_CALL, _call_params(event, durable)).scalar_one())
    with Session(engine) as session, session.begin():
        return append(session, event, durable=durable)


_ARGS = (
    "%(p_practice_id)s, %(p_user_id)s, %(p_action)s, %(p_resource_type)s, %(p_resource_id)s,"
    " %(p_patient_id)s, %(p_remote_addr)s, %(p_tail)s, %(p_durable)s"
)
# Driver-level SQL (psycopg's parameter style): these run on an autocommit connection.
_APPEND_SQL = f"SELECT chartguard_audit_append({_ARGS})"
_APPEND_FOR_SESSION_SQL = (
    f"SELECT chartguard_audit_append_for_session(%(p_session_id)s, %(p_role)s, {_ARGS})"
)


def append_autocommitted(
    conn: Connection,
    event: AuditEvent,
    *,
    durable: bool = False,
    session_id: int | None = None,
    role: str | None = None,
) -> int:
    """Append ``event`` in one autocommitted statement on ``conn`` (PostgreSQL, a
    connection from ``Database.read_connection()``): no second connection, no
    BEGIN/COMMIT round trips, the chain lock released inside the server.

    With ``session_id`` and ``role`` the same statement first checks that this sign-in
    session still holds with that role (migration 0007); a failed check raises a
    :class:`~sqlalchemy.exc.DBAPIError` whose ``orig.sqlstate`` is
    :data:`ehr_core.session_cache.SQLSTATE_ENDED` or ``SQLSTATE_ROLE_CHANGED``, and
    appends nothing.
    """
    params = _call_params(event, durable)
    sql = _APPEND_SQL
    if session_id is not None:
        params.update(p_session_id=session_id, p_role=role)
        sql = _APPEND_FOR_SESSION_SQL
    rows = run_on_driver(conn, sql, params)
    return int(rows[0][0])


def spool(path: str, event: AuditEvent, *, region: str) -> None:
    """Record a read served while the database is read-only (not chained; ids only)."""
    line = json.dumps(
        {"at": utcnow().isoformat(), "region": region, **dataclasses.asdict(event)},
        separators=(",", ":"),
    )
    with _spool_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


SPOOLED_PREFIX = "spooled:"


def read_spool(path: str) -> list[AuditEvent]:
    """The events in a spool file, in the order they were served."""
    events: list[AuditEvent] = []
    fields = {f.name for f in dataclasses.fields(AuditEvent)}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                events.append(AuditEvent(**{k: v for k, v in record.items() if k in fields}))
            except (ValueError, TypeError) as e:
                raise ValueError(f"audit spool line {number} is not a spooled entry") from e
    return events


def import_spool(session: Session, path: str) -> int:
    """Append a spool's entries to their practices' chains (actions prefixed ``spooled:``)
    inside the caller's transaction; returns how many. The caller commits, then moves
    the spool file aside so it is not imported twice."""
    events = read_spool(path)
    for event in events:
        append(session, dataclasses.replace(event, action=SPOOLED_PREFIX + event.action))
    return len(events)


@dataclasses.dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first entry where the chain does not hold, and why."""

    entry_id: int | None
    seq: int
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class VerifyResult:
    practice_id: int
    ok: bool
    entries_checked: int
    head_seq: int
    first_break: ChainBreak | None = None


def verify(session: Session, practice_id: int, *, batch: int = 5000) -> VerifyResult:
    """Walk the practice's chain from the start and report the first broken link."""
    head = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.practice_id == practice_id)
    ).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    rows: Iterable[AuditEntry] = session.execute(
        select(AuditEntry)
        .where(AuditEntry.practice_id == practice_id)
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=batch)
    ).scalars()
    prev, expected_seq, checked = GENESIS, 1, 0

    def broken(entry_id: int | None, seq: int, reason: str) -> VerifyResult:
        return VerifyResult(
            practice_id, False, checked, head_seq, ChainBreak(entry_id, seq, reason)
        )

    for row in rows:
        if row.seq != expected_seq:
            return broken(row.id, row.seq, f"expected sequence {expected_seq}: entries missing")
        if row.prev_hash != prev:
            return broken(row.id, row.seq, "prev_hash does not match the previous entry")
        event = AuditEvent(
            practice_id=row.practice_id,
            action=row.action,
            resource_type=row.resource_type,
            resource_id=row.resource_id,
            patient_id=row.patient_id,
            user_id=row.user_id,
            remote_addr=row.remote_addr,
        )
        if entry_hash(prev, practice_id=practice_id, seq=row.seq, at=row.at, event=event) != (
            row.hash
        ):
            return broken(row.id, row.seq, "content does not match its hash (entry altered)")
        prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    if checked != head_seq or prev != head_hash:
        return broken(None, expected_seq, "chain ends before its recorded head (entries removed)")
    return VerifyResult(practice_id, True, checked, head_seq)
