"""Atom feed (RFC 4287) of incident updates and maintenance windows, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from monitoring.status.models import IncidentPublic, MaintenancePublic

ATOM_NS = "http://www.w3.org/2005/Atom"


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def render_feed(*, base_url: str, incidents: list[IncidentPublic],
                maintenance: list[MaintenancePublic], limit: int = 50) -> bytes:
    """The Atom document: one entry per incident update and per maintenance window."""
    ET.register_namespace("", ATOM_NS)
    entries: list[tuple[datetime, str, str, str]] = []
    for inc in incidents:
        where = ", ".join(r.key for r in inc.components) or "all components"
        for up in inc.updates:
            entries.append((
                up.created_at,
                f"urn:chartguard:status:incident:{inc.id}:update:{up.id}",
                f"[{up.status.value.capitalize()}] {inc.title}",
                f"{up.message}\n\nAffected: {where}.",
            ))
    for m in maintenance:
        where = ", ".join(r.key for r in m.components)
        entries.append((
            m.completed_at or m.created_at,
            f"urn:chartguard:status:maintenance:{m.id}:{m.status}",
            f"[Maintenance {m.status.replace('_', ' ')}] {m.title}",
            f"{m.message}\n\nWindow: {m.starts_at.isoformat()} to {m.ends_at.isoformat()}. "
            f"Affected: {where}.",
        ))
    entries.sort(key=lambda e: e[0], reverse=True)
    entries = entries[:limit]
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _add(feed, "id", "urn:chartguard:status")
    _add(feed, "title", "chartguard EHR status")
    updated = entries[0][0] if entries else datetime.now(UTC)
    _add(feed, "updated", updated.isoformat())
    _add(feed, "link", href=f"{base_url}/feed.atom", rel="self")
    _add(feed, "link", href=f"{base_url}/", rel="alternate")
    author = _add(feed, "author")
    _add(author, "name", "chartguard status service")
    for when, entry_id, title, text in entries:
        entry = _add(feed, "entry")
        _add(entry, "id", entry_id)
        _add(entry, "title", title)
        _add(entry, "updated", when.isoformat())
        _add(entry, "link", href=f"{base_url}/", rel="alternate")
        _add(entry, "content", text, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
