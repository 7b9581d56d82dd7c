"""Practices (tenants)."""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import URL, select
from sqlalchemy.orm import Session

from ehr_core import audit
from ehr_core.fastquery import Queryable
from ehr_core.models import Practice

_zones: dict[tuple[URL, int], ZoneInfo] = {}
_zones_lock = threading.Lock()


def create_practice(session: Session, *, slug: str, name: str) -> Practice:
    """A new practice with its empty audit chain."""
    practice = Practice(slug=slug, name=name)
    session.add(practice)
    session.flush()
    audit.init_chain(session, practice.id)
    return practice


def zone_of(db: Queryable, practice_id: int) -> ZoneInfo:
    """The practice's time zone (cached per database and practice: it does not change
    while serving). An unknown zone name falls back to UTC rather than failing reads."""
    engine = db.get_bind().engine if isinstance(db, Session) else db.engine
    key = (engine.url, practice_id)
    zone = _zones.get(key)
    if zone is not None:
        return zone
    name = db.execute(select(Practice.timezone).where(Practice.id == practice_id)).scalar()
    try:
        zone = ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    with _zones_lock:
        _zones[key] = zone
    return zone
