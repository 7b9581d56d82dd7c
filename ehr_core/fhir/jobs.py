"""The bulk export job table: one row per ``$export`` request, shared by every worker.

Jobs live in the database (not in a worker's memory) so that any worker process can answer
the status URL, and so that a cancel (``DELETE``) reaches the worker running the job. The
row holds ids, counts and error codes only: never patient data.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ehr_core.models import Base, UTCDateTime, utcnow


class JobStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


#: States a job never leaves.
FINISHED = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})


class ExportJob(Base):
    """One Bulk Data export of one practice (``level`` ``system`` or ``patient``)."""

    __tablename__ = "bulk_export_jobs"
    __table_args__ = (Index("ix_bulk_export_jobs_practice_status", "practice_id", "status"),)

    # An unguessable id (uuid4 hex): it appears in the status and file URLs.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id"))
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    level: Mapped[str] = mapped_column(String(16))
    # Comma-separated FHIR resource types, in export order.
    types: Mapped[str] = mapped_column(String(500))
    request_url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued.value)
    progress: Mapped[str] = mapped_column(String(200), default="queued")
    # [{"type": "Patient", "file": "Patient.ndjson", "count": 12}, ...] once completed.
    output: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The runner touches this while it works; a running job whose heartbeat is old lost
    # its worker (restart, crash) and is reported as failed.
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    transaction_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resource_count: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def type_list(self) -> list[str]:
        return [t for t in self.types.split(",") if t]


__all__ = ["FINISHED", "ExportJob", "JobStatus"]
