"""Runs a bulk export job: streams the practice's rows into NDJSON files, off the request path.

One job reads everything inside a single read-only snapshot (PostgreSQL ``REPEATABLE
READ``; a deferred SQLite read transaction, which WAL keeps from blocking writers), so all
files agree with each other and with ``transactionTime``. Rows are streamed in batches
(``yield_per``; a server-side cursor on PostgreSQL), so memory stays flat however large the
practice. Between batches the runner beats the job's heartbeat and notices a cancel.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from ehr_core.db import Database
from ehr_core.fhir.catalog import RESOURCE_TYPES
from ehr_core.fhir.jobs import ExportJob, JobStatus
from ehr_core.fhir.store import ExportStore, NdjsonWriter
from ehr_core.models import utcnow

log = logging.getLogger("chartguard.ehr.fhir.export")


class _Cancelled(Exception):
    """The job was cancelled (or deleted) while it ran."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    job_id: str
    status: JobStatus
    resources: int
    seconds: float


class ExportRunner:
    """Executes export jobs, each in its own daemon thread of this worker process.

    ``batch_size`` rows are fetched per round trip; the heartbeat and the cancel check
    happen once per batch (and at least every ``heartbeat_seconds``).
    """

    def __init__(
        self,
        *,
        database: Database,
        store: ExportStore,
        batch_size: int = 500,
        heartbeat_seconds: float = 2.0,
    ) -> None:
        self.database = database
        self.store = store
        self.batch_size = batch_size
        self.heartbeat_seconds = heartbeat_seconds
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str) -> threading.Thread:
        """Run ``job_id`` in the background; returns at once."""
        thread = threading.Thread(
            target=self._run_logged, args=(job_id,), name=f"fhir-export-{job_id[:8]}", daemon=True
        )
        with self._lock:
            self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
            self._threads[job_id] = thread
        thread.start()
        return thread

    def join(self, timeout: float | None = None) -> bool:
        """Wait for every job this runner started; True when all have finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not any(t.is_alive() for t in threads)

    def _run_logged(self, job_id: str) -> None:
        try:
            self.run(job_id)
        except Exception as e:  # a background thread has nobody to raise to: it is recorded
            # The kind of failure only: a driver's message or a traceback may quote row data.
            log.error("export job %s failed: %s", job_id, type(e).__name__)

    # ---------------------------------------------------------------------------------------

    def run(self, job_id: str) -> RunOutcome | None:
        """Run one queued job to its end in this thread. None if it was not queued."""
        started = time.monotonic()
        with self.database.transaction() as session:
            job = session.get(ExportJob, job_id)
            if job is None or job.status != JobStatus.queued:
                return None
            job.status = JobStatus.running.value
            job.heartbeat_at = utcnow()
            job.progress = "starting"
            practice_id, types = job.practice_id, job.type_list
        total = 0
        try:
            outputs, total = self._export(job_id, practice_id, types)
        except _Cancelled:
            self.store.remove(job_id)
            self._delete(job_id)
            return RunOutcome(job_id, JobStatus.cancelled, total, time.monotonic() - started)
        except Exception as e:
            self.store.remove(job_id)
            # The error names the kind of failure only; a driver message may quote data.
            self._finish(job_id, JobStatus.failed, error=f"export failed: {type(e).__name__}")
            raise
        finished = self._finish(job_id, JobStatus.completed, output=outputs, count=total)
        if not finished:  # cancelled between the last batch and now
            self.store.remove(job_id)
            self._delete(job_id)
            return RunOutcome(job_id, JobStatus.cancelled, total, time.monotonic() - started)
        log.info("export job %s completed: %d resources", job_id, total)
        return RunOutcome(job_id, JobStatus.completed, total, time.monotonic() - started)

    def _snapshot(self, session: Session) -> None:
        """Start the job's read-only snapshot transaction on ``session``."""
        if self.database.is_sqlite:
            session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        else:
            session.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
        # The snapshot is taken by the first statement: do it before noting the time.
        session.execute(text("SELECT 1"))

    def _export(
        self, job_id: str, practice_id: int, types: list[str]
    ) -> tuple[list[dict[str, object]], int]:
        outputs: list[dict[str, object]] = []
        total = 0
        last_beat = time.monotonic()
        with self.database.session() as session:
            self._snapshot(session)
            transaction_time = utcnow()
            self._beat(job_id, progress="exporting", transaction_time=transaction_time)
            for index, type_name in enumerate(types, start=1):
                rtype = RESOURCE_TYPES[type_name]
                writer: NdjsonWriter = self.store.writer(job_id, type_name)
                try:
                    for source in rtype.sources:
                        stmt = source.query(practice_id).execution_options(
                            yield_per=self.batch_size
                        )
                        for row in session.execute(stmt):
                            writer.write(source.to_fhir(row))
                            if writer.count % self.batch_size == 0 or (
                                time.monotonic() - last_beat > self.heartbeat_seconds
                            ):
                                last_beat = time.monotonic()
                                self._beat(
                                    job_id,
                                    progress=_progress(index, types, total + writer.count),
                                )
                except BaseException:
                    writer.abort()
                    raise
                if writer.count:
                    writer.commit()
                    outputs.append(
                        {"type": type_name, "file": writer.path.name, "count": writer.count}
                    )
                else:  # the manifest lists no empty files
                    writer.abort()
                total += writer.count
                last_beat = time.monotonic()
                self._beat(job_id, progress=_progress(index, types, total))
            session.rollback()  # read-only: end the snapshot
        return outputs, total

    def _beat(self, job_id: str, *, progress: str, transaction_time: object = None) -> None:
        """Touch the heartbeat and progress; raise :class:`_Cancelled` if the job is gone."""
        values: dict[str, object] = {"heartbeat_at": utcnow(), "progress": progress[:200]}
        if transaction_time is not None:
            values["transaction_time"] = transaction_time
        with self.database.transaction() as session:
            result = session.execute(
                update(ExportJob)
                .where(ExportJob.id == job_id, ExportJob.status == JobStatus.running.value)
                .values(**values)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise _Cancelled()

    def _finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        output: list[dict[str, object]] | None = None,
        count: int = 0,
        error: str | None = None,
    ) -> bool:
        """Record the end of a running job; False when it was cancelled meanwhile."""
        with self.database.transaction() as session:
            result = session.execute(
                update(ExportJob)
                .where(ExportJob.id == job_id, ExportJob.status == JobStatus.running.value)
                .values(
                    status=status.value,
                    progress=status.value,
                    output=output or [],
                    resource_count=count,
                    error=error,
                    finished_at=utcnow(),
                    heartbeat_at=utcnow(),
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _delete(self, job_id: str) -> None:
        with self.database.transaction() as session:
            job = session.execute(select(ExportJob).where(ExportJob.id == job_id)).scalar()
            if job is not None:
                session.delete(job)


def _progress(index: int, types: list[str], resources: int) -> str:
    return f"{types[index - 1]} ({index}/{len(types)} types), {resources} resources written"


__all__ = ["ExportRunner", "RunOutcome"]
