"""Bulk Data ``$export`` jobs: kick-off, status (manifest), cancel, file look-up.

The flow (FHIR Bulk Data Access v2):

1. kick-off ``GET /fhir/r4/$export`` (or ``/Patient/$export``) with ``Prefer: respond-async``
   creates a job row and starts the :class:`~ehr_core.fhir.runner.ExportRunner` in a thread;
   the answer is 202 with ``Content-Location`` naming the status URL;
2. the status URL answers 202 with ``X-Progress`` while the job runs, then 200 with the
   manifest (``transactionTime``, ``request``, ``requiresAccessToken``, ``output``,
   ``error``); a failed job answers 500 with the reason;
3. each ``output[].url`` serves one NDJSON file, to an owner of the same practice only;
4. ``DELETE`` on the status URL cancels a running job or removes a finished one's files.

Everything is scoped to the caller's practice: another practice's job is "not found".
"""

from __future__ import annotations

import datetime as dt
import email.utils
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ehr_core.db import Database
from ehr_core.fhir.catalog import PATIENT_TYPES, SYSTEM_TYPES
from ehr_core.fhir.errors import ExportBusy, ExportNotFound, InvalidExportRequest
from ehr_core.fhir.jobs import FINISHED, ExportJob, JobStatus
from ehr_core.fhir.mapping import instant
from ehr_core.fhir.responses import NDJSON_FORMATS
from ehr_core.fhir.runner import ExportRunner
from ehr_core.fhir.store import ExportStore
from ehr_core.models import utcnow

#: A running job whose heartbeat is older than this lost its worker process.
STALE_AFTER = dt.timedelta(seconds=60)
#: Finished exports (a whole practice's chart each) are deleted this long after they end.
RETAIN_FOR = dt.timedelta(hours=24)
#: Seconds a client is asked to wait between status polls.
POLL_SECONDS = 2
STATUS_PATH = "/fhir/r4/_export/{job_id}"
FILE_PATH = "/fhir/r4/_export/{job_id}/{file_name}"


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """A validated kick-off: ``level`` ``system`` or ``patient`` and the types to write."""

    level: str
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JobState:
    """What the status URL reports: in progress, the manifest, or the failure."""

    job_id: str
    status: JobStatus
    progress: str
    manifest: dict[str, Any] | None = None
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def parse_request(
    *,
    level: str,
    output_format: str | None,
    type_param: str | None,
    since: str | None,
    prefer: str | None,
    accept: str | None,
) -> ExportRequest:
    """Validate the kick-off's parameters and headers; name the first bad one."""
    if prefer is None or "respond-async" not in prefer.replace(" ", "").lower().split(","):
        raise InvalidExportRequest("Prefer", "the header must be 'respond-async'")
    if accept and not any(
        a.split(";")[0].strip() in ("application/fhir+json", "application/json", "*/*")
        for a in accept.split(",")
    ):
        raise InvalidExportRequest("Accept", "must accept application/fhir+json")
    if output_format is not None and output_format not in NDJSON_FORMATS:
        raise InvalidExportRequest("_outputFormat", "only application/fhir+ndjson is offered")
    if since is not None:
        raise InvalidExportRequest("_since", "incremental exports are not supported")
    allowed = SYSTEM_TYPES if level == "system" else PATIENT_TYPES
    if type_param is None or not type_param.strip():
        return ExportRequest(level=level, types=tuple(allowed))
    wanted = [t.strip() for t in type_param.split(",") if t.strip()]
    unknown = sorted({t for t in wanted if t not in allowed})
    if unknown:
        shown = ", ".join(t[:64] for t in unknown[:5])
        raise InvalidExportRequest("_type", f"not exported at this level: {shown}")
    # Keep the catalog's order (and drop duplicates): patients first, then their records.
    return ExportRequest(level=level, types=tuple(t for t in allowed if t in set(wanted)))


class BulkExports:
    """Export jobs (rows in the caller's session), their files, and the runner."""

    def __init__(self, *, store: ExportStore, runner: ExportRunner) -> None:
        self.store = store
        self.runner = runner

    @classmethod
    def create(cls, database: Database, export_dir: str | Path) -> BulkExports:
        store = ExportStore(export_dir)
        return cls(store=store, runner=ExportRunner(database=database, store=store))

    def create_job(
        self,
        session: Session,
        *,
        practice_id: int,
        user_id: int,
        request: ExportRequest,
        request_url: str,
    ) -> str:
        """Add a queued job to ``session`` (the caller commits, then calls :meth:`start`).

        Refuses with :class:`ExportBusy` while the practice has a live export; a job whose
        worker stopped (stale heartbeat) is marked failed first and does not count.
        """
        now = utcnow()
        self._sweep_expired(session, now)
        active = list(
            session.execute(
                select(ExportJob).where(
                    ExportJob.practice_id == practice_id,
                    ExportJob.status.in_([JobStatus.queued.value, JobStatus.running.value]),
                )
            ).scalars()
        )
        self._expire_stale(active, now)
        if any(job.status not in FINISHED for job in active):
            raise ExportBusy(POLL_SECONDS * 5)
        job_id = uuid.uuid4().hex
        session.add(
            ExportJob(
                id=job_id,
                practice_id=practice_id,
                requested_by=user_id,
                level=request.level,
                types=",".join(request.types),
                request_url=request_url,
                status=JobStatus.queued.value,
                progress="queued",
                output=[],
                created_at=now,
                heartbeat_at=now,
                resource_count=0,
            )
        )
        session.flush()
        return job_id

    def start(self, job_id: str) -> None:
        """Run a committed queued job in a background thread; returns at once."""
        self.runner.start(job_id)

    def _load(self, session: Session, practice_id: int, job_id: str) -> ExportJob:
        self.store.job_dir(job_id)  # malformed ids are simply not found
        job = session.execute(
            select(ExportJob).where(ExportJob.id == job_id, ExportJob.practice_id == practice_id)
        ).scalar()
        if job is None or job.status == JobStatus.cancelled:
            raise ExportNotFound()
        return job

    def _sweep_expired(self, session: Session, now: dt.datetime) -> None:
        """Delete finished jobs older than ``RETAIN_FOR`` (any practice) and their files.

        Commits ``session`` when it deleted anything (before touching the files, so a row
        never outlives its files' removal by a rollback)."""
        expired = list(
            session.execute(
                select(ExportJob)
                .where(
                    ExportJob.status.in_([JobStatus.completed.value, JobStatus.failed.value]),
                    ExportJob.finished_at < now - RETAIN_FOR,
                )
                .limit(100)
            ).scalars()
        )
        for job in expired:
            session.delete(job)
        if expired:
            session.commit()
        for job in expired:
            self.store.remove(job.id)

    def _expire_stale(self, jobs: Iterable[ExportJob], now: dt.datetime) -> None:
        """Mark jobs whose worker stopped (no heartbeat for ``STALE_AFTER``) as failed and
        remove the partial files they left."""
        for job in jobs:
            if job.status not in FINISHED and now - job.heartbeat_at > STALE_AFTER:
                job.status = JobStatus.failed.value
                job.progress = JobStatus.failed.value
                job.error = "export interrupted: the worker running it stopped"
                job.finished_at = now
                self.store.remove(job.id)

    def status(self, session: Session, *, practice_id: int, job_id: str, base_url: str) -> JobState:
        """The job's state; a completed job's manifest with absolute file URLs.

        Commits ``session`` (it may record that a job's worker was lost).
        """
        now = utcnow()
        self._sweep_expired(session, now)
        job = self._load(session, practice_id, job_id)
        self._expire_stale([job], now)
        session.commit()
        status = JobStatus(job.status)
        if status == JobStatus.failed:
            return JobState(job_id, status, job.progress, error=job.error or "export failed")
        if status != JobStatus.completed:
            return JobState(
                job_id,
                status,
                job.progress,
                headers={"X-Progress": job.progress, "Retry-After": str(POLL_SECONDS)},
            )
        base = base_url.rstrip("/")
        manifest = {
            "transactionTime": instant(job.transaction_time or job.created_at),
            "request": job.request_url,
            "requiresAccessToken": True,
            "output": [
                {
                    "type": out["type"],
                    "url": base + FILE_PATH.format(job_id=job_id, file_name=out["file"]),
                    "count": out["count"],
                }
                for out in job.output
            ],
            "error": [],
        }
        expires = (job.finished_at or now) + RETAIN_FOR
        return JobState(
            job_id,
            status,
            job.progress,
            manifest=manifest,
            headers={"Expires": email.utils.format_datetime(expires, usegmt=True)},
        )

    def cancel(self, session: Session, *, practice_id: int, job_id: str) -> None:
        """Stop a live job (its runner then removes the files and the row) or remove a
        finished one's row and files. Commits ``session``."""
        job = self._load(session, practice_id, job_id)
        if utcnow() - job.heartbeat_at <= STALE_AFTER:
            # Only a job still live is flagged (guarded, as its runner may finish meanwhile);
            # the runner notices at its next batch and removes its files and row itself.
            flagged = session.execute(
                update(ExportJob)
                .where(
                    ExportJob.id == job_id,
                    ExportJob.status.in_([JobStatus.queued.value, JobStatus.running.value]),
                )
                .values(status=JobStatus.cancelled.value, progress=JobStatus.cancelled.value)
            )
            if flagged.rowcount:  # type: ignore[attr-defined]
                session.commit()
                return
        session.delete(job)
        session.commit()
        self.store.remove(job_id)

    def file(self, session: Session, *, practice_id: int, job_id: str, file_name: str) -> Path:
        """The path of a completed job's file; not found for anything else."""
        job = self._load(session, practice_id, job_id)
        if job.status != JobStatus.completed or file_name not in {
            out["file"] for out in job.output
        }:
            raise ExportNotFound()
        return self.store.path(job_id, file_name)


__all__ = [
    "FILE_PATH",
    "STATUS_PATH",
    "BulkExports",
    "ExportRequest",
    "JobState",
    "parse_request",
]
