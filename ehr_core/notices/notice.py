"""What practices are told: one :class:`Notice`, composed from two sources.

The EHR's own view of its database (reachable? read-only?) always counts, so the notice is
right even when the status service is unreachable; the status service adds incidents and
maintenance windows written by SREs and alerts. Nothing here carries PHI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Mode = Literal["normal", "degraded", "maintenance", "read_only", "outage"]
Level = Literal["none", "info", "warning", "critical"]
StatusLink = Literal["ok", "unreachable", "not_configured"]

READ_ONLY_MESSAGE = "read-only: charts, schedules and labs are available; new notes cannot be saved"
READ_ONLY_AVAILABLE = ["charts", "schedules", "labs", "patient search"]
READ_ONLY_UNAVAILABLE = ["new notes", "appointment changes",
                         "new labs, allergies and medications", "patient messages"]


class NoticeIncident(BaseModel):
    id: int
    title: str
    status: str
    impact: str
    latest_update: str
    updated_at: datetime


class NoticeMaintenance(BaseModel):
    title: str
    message: str
    status: str
    starts_at: datetime
    ends_at: datetime


class Notice(BaseModel):
    """The practice notice (``GET /api/v1/notice``); ``active`` says whether to show a banner."""

    active: bool
    mode: Mode
    level: Level
    headline: str
    message: str
    available: list[str] = Field(default_factory=list)
    unavailable: list[str] = Field(default_factory=list)
    incidents: list[NoticeIncident] = Field(default_factory=list)
    maintenance: list[NoticeMaintenance] = Field(default_factory=list)
    region: str
    status_service: StatusLink
    updated_at: datetime = Field(description="when the content of this notice last changed")
    checked_at: datetime = Field(description="when the EHR last re-evaluated it")

    def content_key(self) -> str:
        """Everything but the timestamps: equal keys mean nothing new to tell practices."""
        return self.model_dump_json(exclude={"updated_at", "checked_at"})


class LocalState(BaseModel):
    """The EHR's own view of its database."""

    reachable: bool
    read_only: bool


def _incidents(summary: dict[str, Any]) -> list[NoticeIncident]:
    out = []
    for inc in summary.get("incidents", []):
        updates = inc.get("updates") or [{}]
        out.append(NoticeIncident(
            id=inc["id"], title=inc["title"], status=inc["status"], impact=inc["impact"],
            latest_update=updates[-1].get("message", ""), updated_at=inc["updated_at"],
        ))
    return out


def _maintenance(summary: dict[str, Any]) -> list[NoticeMaintenance]:
    return [NoticeMaintenance(title=m["title"], message=m["message"], status=m["status"],
                              starts_at=m["starts_at"], ends_at=m["ends_at"])
            for m in summary.get("maintenance", [])]


def compose(*, local: LocalState, summary: dict[str, Any] | None, status_service: StatusLink,
            region: str, now: datetime) -> Notice:
    """The notice for this moment (pure: the caller tracks ``updated_at``).

    Precedence: outage (our database unreachable) > read-only > maintenance in progress >
    open incidents > normal.
    """
    incidents = _incidents(summary) if summary else []
    maintenance = _maintenance(summary) if summary else []
    active_maintenance = [m for m in maintenance if m.status == "in_progress"]
    base: dict[str, Any] = {"incidents": incidents, "maintenance": maintenance, "region": region,
                            "status_service": status_service, "updated_at": now,
                            "checked_at": now}
    if not local.reachable:
        return Notice(
            active=True, mode="outage", level="critical", headline="Service disruption",
            message=("The EHR cannot reach its database right now: charts and schedules may "
                     "not load and new notes cannot be saved. We are working on it."),
            unavailable=["charts", "schedules", "notes"], **base)
    if local.read_only:
        return Notice(
            active=True, mode="read_only", level="warning", headline="Read-only mode",
            message=READ_ONLY_MESSAGE, available=READ_ONLY_AVAILABLE,
            unavailable=READ_ONLY_UNAVAILABLE, **base)
    if active_maintenance:
        m = active_maintenance[0]
        return Notice(active=True, mode="maintenance", level="info",
                      headline=f"Scheduled maintenance: {m.title}", message=m.message, **base)
    if incidents:
        latest = max(incidents, key=lambda i: i.updated_at)
        critical = any(i.impact == "major_outage" for i in incidents)
        return Notice(
            active=True, mode="degraded", level="critical" if critical else "warning",
            headline=f"{latest.status.capitalize()}: {latest.title}",
            message=latest.latest_update, **base)
    return Notice(active=False, mode="normal", level="none",
                  headline="All systems operational", message="", **base)
