"""Practices (tenants)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ehr_core import audit
from ehr_core.models import Practice


def create_practice(session: Session, *, slug: str, name: str) -> Practice:
    """A new practice with its empty audit chain."""
    practice = Practice(slug=slug, name=name)
    session.add(practice)
    session.flush()
    audit.init_chain(session, practice.id)
    return practice
