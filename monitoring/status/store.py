"""Durable storage of the status service: one SQLite file.

Everything an SRE or an alert told us (signals, overrides, incidents, maintenance,
subscriptions) survives a restart. Each public method is one transaction, so a crash
never leaves half an incident. Calls are short and serialised by a lock; the service is
a single process.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitoring.status.errors import Conflict, NotFound
from monitoring.status.models import (
    ComponentOverride,
    ComponentRef,
    ComponentState,
    IncidentPublic,
    IncidentStatus,
    IncidentUpdatePublic,
    MaintenanceCreate,
    MaintenancePublic,
    SubscriptionPublic,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    source TEXT NOT NULL, region TEXT NOT NULL, component TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (source, region, component));
CREATE TABLE IF NOT EXISTS regions (name TEXT PRIMARY KEY, first_seen TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS overrides (
    region TEXT NOT NULL, component TEXT NOT NULL, state TEXT NOT NULL,
    message TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (region, component));
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, status TEXT NOT NULL,
    impact TEXT NOT NULL, source TEXT NOT NULL, components TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, resolved_at TEXT);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (source) WHERE resolved_at IS NULL;
CREATE TABLE IF NOT EXISTS incident_updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT, incident_id INTEGER NOT NULL REFERENCES incidents(id),
    status TEXT NOT NULL, message TEXT NOT NULL, author TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS maintenance (
    id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, message TEXT NOT NULL,
    starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, components TEXT NOT NULL,
    created_at TEXT NOT NULL, completed_at TEXT);
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, components TEXT NOT NULL,
    secret TEXT NOT NULL, created_at TEXT NOT NULL, last_delivery_at TEXT, last_error TEXT);
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _refs_json(refs: list[ComponentRef]) -> str:
    return json.dumps([r.key for r in refs])


def _refs(value: str) -> list[ComponentRef]:
    return [ComponentRef.parse(v) for v in json.loads(value)]


@dataclass(frozen=True, slots=True)
class Signal:
    """One automatic input about a component: a firing alert or a probe verdict."""

    source: str
    region: str
    component: str
    state: ComponentState
    reason: str
    updated_at: datetime


class StatusStore:
    """SQLite-backed store; ``path=':memory:'`` gives a throwaway store for tests."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: an acknowledged incident update is on disk before we answer.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- regions ----------------------------------------------------------------------
    @staticmethod
    def _remember_region(db: sqlite3.Connection, region: str) -> None:
        db.execute("INSERT OR IGNORE INTO regions VALUES (?, ?)", (region, _ts(utcnow())))

    def regions(self) -> list[str]:
        """Every region any signal or override ever named (so it stays on the page)."""
        with self._lock:
            rows = self._db.execute("SELECT name FROM regions ORDER BY first_seen").fetchall()
        return [r["name"] for r in rows]

    # -- signals (alerts and probes) ------------------------------------------------
    def set_signal(
        self, *, source: str, ref: ComponentRef, state: ComponentState, reason: str
    ) -> bool:
        """Record an automatic input; returns True when it changed anything."""
        with self._tx() as db:
            row = db.execute(
                "SELECT state, reason FROM signals WHERE source=? AND region=? AND component=?",
                (source, ref.region, ref.component),
            ).fetchone()
            if row is not None and row["state"] == state.value and row["reason"] == reason:
                return False
            self._remember_region(db, ref.region)
            db.execute(
                "INSERT OR REPLACE INTO signals VALUES (?,?,?,?,?,?)",
                (source, ref.region, ref.component, state.value, reason, _ts(utcnow())),
            )
            return True

    def clear_signals(self, source: str, ref: ComponentRef | None = None) -> bool:
        """Forget a source's inputs (all of them, or one component's); True if any existed."""
        with self._tx() as db:
            if ref is None:
                cur = db.execute("DELETE FROM signals WHERE source=?", (source,))
            else:
                cur = db.execute(
                    "DELETE FROM signals WHERE source=? AND region=? AND component=?",
                    (source, ref.region, ref.component),
                )
            return cur.rowcount > 0

    def signals(self) -> list[Signal]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM signals ORDER BY region, component").fetchall()
        return [
            Signal(
                source=r["source"], region=r["region"], component=r["component"],
                state=ComponentState(r["state"]), reason=r["reason"],
                updated_at=datetime.fromisoformat(r["updated_at"]),
            )
            for r in rows
        ]

    # -- overrides ------------------------------------------------------------------
    def set_override(self, ref: ComponentRef, override: ComponentOverride) -> None:
        with self._tx() as db:
            self._remember_region(db, ref.region)
            db.execute(
                "INSERT OR REPLACE INTO overrides VALUES (?,?,?,?,?)",
                (ref.region, ref.component, override.state.value, override.message,
                 _ts(utcnow())),
            )

    def clear_override(self, ref: ComponentRef) -> None:
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM overrides WHERE region=? AND component=?", (ref.region, ref.component)
            )
            if cur.rowcount == 0:
                raise NotFound(f"component {ref.key} has no override")

    def overrides(self) -> dict[str, tuple[ComponentOverride, datetime]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM overrides").fetchall()
        return {
            f"{r['region']}/{r['component']}": (
                ComponentOverride(state=ComponentState(r["state"]), message=r["message"]),
                datetime.fromisoformat(r["updated_at"]),
            )
            for r in rows
        }

    # -- incidents ------------------------------------------------------------------
    def open_incident(
        self,
        *,
        title: str,
        message: str,
        source: str,
        components: list[ComponentRef],
        impact: ComponentState,
        status: IncidentStatus = IncidentStatus.investigating,
        author: str,
    ) -> IncidentPublic:
        now = _ts(utcnow())
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO incidents (title, status, impact, source, components, created_at,"
                " updated_at) VALUES (?,?,?,?,?,?,?)",
                (title, status.value, impact.value, source, _refs_json(components), now, now),
            )
            incident_id = int(cur.lastrowid or 0)
            db.execute(
                "INSERT INTO incident_updates (incident_id, status, message, author, created_at)"
                " VALUES (?,?,?,?,?)",
                (incident_id, status.value, message, author, now),
            )
        return self.incident(incident_id)

    def open_incident_for(self, source: str) -> IncidentPublic | None:
        """The unresolved incident opened by ``source`` (e.g. ``alert:<fingerprint>``)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM incidents WHERE source=? AND resolved_at IS NULL", (source,)
            ).fetchone()
        return self.incident(row["id"]) if row else None

    def add_update(
        self, incident_id: int, *, status: IncidentStatus, message: str, author: str
    ) -> IncidentPublic:
        now = _ts(utcnow())
        with self._tx() as db:
            row = db.execute("SELECT resolved_at FROM incidents WHERE id=?",
                             (incident_id,)).fetchone()
            if row is None:
                raise NotFound(f"incident {incident_id} does not exist")
            if row["resolved_at"] is not None and status != IncidentStatus.resolved:
                raise Conflict(f"incident {incident_id} is resolved; open a new incident")
            db.execute(
                "INSERT INTO incident_updates (incident_id, status, message, author, created_at)"
                " VALUES (?,?,?,?,?)",
                (incident_id, status.value, message, author, now),
            )
            resolved = now if status == IncidentStatus.resolved else None
            db.execute(
                "UPDATE incidents SET status=?, updated_at=?, resolved_at=COALESCE(resolved_at, ?)"
                " WHERE id=?",
                (status.value, now, resolved, incident_id),
            )
        return self.incident(incident_id)

    def incident(self, incident_id: int) -> IncidentPublic:
        found = self._incidents("WHERE id=?", (incident_id,))
        if not found:
            raise NotFound(f"incident {incident_id} does not exist")
        return found[0]

    def incidents(self, *, open_only: bool = False, limit: int = 50) -> list[IncidentPublic]:
        where = "WHERE resolved_at IS NULL" if open_only else ""
        return self._incidents(f"{where} ORDER BY id DESC LIMIT ?", (limit,))

    def _incidents(self, clause: str, args: tuple[object, ...]) -> list[IncidentPublic]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM incidents {clause}", args).fetchall()
            ids = [r["id"] for r in rows]
            marks = ",".join("?" * len(ids))
            updates = self._db.execute(
                f"SELECT * FROM incident_updates WHERE incident_id IN ({marks}) ORDER BY id",
                ids,
            ).fetchall() if ids else []
        by_incident: dict[int, list[IncidentUpdatePublic]] = {}
        for u in updates:
            by_incident.setdefault(u["incident_id"], []).append(
                IncidentUpdatePublic(
                    id=u["id"], status=IncidentStatus(u["status"]), message=u["message"],
                    created_at=datetime.fromisoformat(u["created_at"]), author=u["author"],
                )
            )
        return [
            IncidentPublic(
                id=r["id"], title=r["title"], status=IncidentStatus(r["status"]),
                impact=ComponentState(r["impact"]), source=r["source"],
                components=_refs(r["components"]),
                created_at=datetime.fromisoformat(r["created_at"]),
                updated_at=datetime.fromisoformat(r["updated_at"]),
                resolved_at=_dt(r["resolved_at"]),
                updates=by_incident.get(r["id"], []),
            )
            for r in rows
        ]

    # -- maintenance ----------------------------------------------------------------
    def add_maintenance(self, window: MaintenanceCreate) -> MaintenancePublic:
        with self._tx() as db:
            for ref in window.components:
                self._remember_region(db, ref.region)
            cur = db.execute(
                "INSERT INTO maintenance (title, message, starts_at, ends_at, components,"
                " created_at) VALUES (?,?,?,?,?,?)",
                (window.title, window.message, _ts(window.starts_at), _ts(window.ends_at),
                 _refs_json(window.components), _ts(utcnow())),
            )
            window_id = int(cur.lastrowid or 0)
        return self.maintenance(window_id)

    def complete_maintenance(self, window_id: int) -> MaintenancePublic:
        with self._tx() as db:
            row = db.execute("SELECT completed_at FROM maintenance WHERE id=?",
                             (window_id,)).fetchone()
            if row is None:
                raise NotFound(f"maintenance {window_id} does not exist")
            if row["completed_at"] is not None:
                raise Conflict(f"maintenance {window_id} is already completed")
            db.execute("UPDATE maintenance SET completed_at=? WHERE id=?",
                       (_ts(utcnow()), window_id))
        return self.maintenance(window_id)

    def maintenance(self, window_id: int) -> MaintenancePublic:
        found = self._maintenance("WHERE id=?", (window_id,))
        if not found:
            raise NotFound(f"maintenance {window_id} does not exist")
        return found[0]

    def maintenance_windows(self, *, include_completed: bool = False,
                            limit: int = 50) -> list[MaintenancePublic]:
        where = "" if include_completed else "WHERE completed_at IS NULL"
        return self._maintenance(f"{where} ORDER BY starts_at DESC LIMIT ?", (limit,))

    def _maintenance(self, clause: str, args: tuple[object, ...]) -> list[MaintenancePublic]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM maintenance {clause}", args).fetchall()
        now = utcnow()
        out = []
        for r in rows:
            starts, ends = datetime.fromisoformat(r["starts_at"]), datetime.fromisoformat(
                r["ends_at"])
            completed = _dt(r["completed_at"])
            if completed is not None or now >= ends:
                status = "completed"
            elif now >= starts:
                status = "in_progress"
            else:
                status = "scheduled"
            out.append(MaintenancePublic(
                id=r["id"], title=r["title"], message=r["message"], starts_at=starts,
                ends_at=ends, components=_refs(r["components"]), completed_at=completed,
                created_at=datetime.fromisoformat(r["created_at"]), status=status,
            ))
        return out

    # -- subscriptions --------------------------------------------------------------
    def add_subscription(self, *, url: str, components: list[ComponentRef],
                         secret: str) -> SubscriptionPublic:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO subscriptions (url, components, secret, created_at)"
                " VALUES (?,?,?,?)",
                (url, _refs_json(components), secret, _ts(utcnow())),
            )
            sub_id = int(cur.lastrowid or 0)
        return self.subscription(sub_id)[0]

    def delete_subscription(self, sub_id: int) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM subscriptions WHERE id=?", (sub_id,)).rowcount == 0:
                raise NotFound(f"subscription {sub_id} does not exist")

    def record_delivery(self, sub_id: int, *, error: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE subscriptions SET last_delivery_at=?, last_error=? WHERE id=?",
                (_ts(utcnow()), error, sub_id),
            )

    def subscription(self, sub_id: int) -> tuple[SubscriptionPublic, str]:
        """The subscription and its signing secret."""
        found = self.subscriptions(sub_id=sub_id)
        if not found:
            raise NotFound(f"subscription {sub_id} does not exist")
        return found[0]

    def subscriptions(self, *, sub_id: int | None = None) -> list[tuple[SubscriptionPublic, str]]:
        with self._lock:
            if sub_id is None:
                rows = self._db.execute("SELECT * FROM subscriptions ORDER BY id").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM subscriptions WHERE id=?",
                                        (sub_id,)).fetchall()
        return [
            (
                SubscriptionPublic(
                    id=r["id"], url=r["url"], components=_refs(r["components"]),
                    created_at=datetime.fromisoformat(r["created_at"]),
                    last_delivery_at=_dt(r["last_delivery_at"]), last_error=r["last_error"],
                ),
                r["secret"],
            )
            for r in rows
        ]
