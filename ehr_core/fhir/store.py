"""Where bulk export files live: ``<export_dir>/<job id>/<Type>.ndjson``.

Files are written under a ``.part`` name and renamed when complete, so a download never
sees half a file, and a job's folder is removed whole on cancel or expiry. The folder and
files are private to the service's user (0700/0600): they hold a practice's whole chart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ehr_core.fhir.errors import ExportNotFound

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


class NdjsonWriter:
    """Appends one resource per line to a ``.part`` file; :meth:`commit` publishes it."""

    def __init__(self, final_path: Path) -> None:
        self.path = final_path
        self.part = final_path.with_name(final_path.name + ".part")
        fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._file: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self.count = 0

    def write(self, resource: dict[str, Any]) -> None:
        assert self._file is not None, "writer already closed"
        self._file.write(json.dumps(resource, separators=(",", ":"), ensure_ascii=False))
        self._file.write("\n")
        self.count += 1

    def commit(self) -> None:
        """Flush to disk and rename into place (atomic on one filesystem)."""
        assert self._file is not None, "writer already closed"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self.part, self.path)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.part.unlink(missing_ok=True)

    def __enter__(self) -> NdjsonWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self._file is not None:
            self.commit()
        else:
            self.abort()


class ExportStore:
    """The export folder: one sub-folder per job, one NDJSON file per resource type."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def job_dir(self, job_id: str) -> Path:
        if not _JOB_ID.match(job_id):
            raise ExportNotFound()
        return self.root / job_id

    @staticmethod
    def file_name(resource_type: str) -> str:
        if not _TYPE.match(resource_type):
            raise ExportNotFound()
        return f"{resource_type}.ndjson"

    def writer(self, job_id: str, resource_type: str) -> NdjsonWriter:
        folder = self.job_dir(job_id)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        return NdjsonWriter(folder / self.file_name(resource_type))

    def path(self, job_id: str, file_name: str) -> Path:
        """The finished file ``file_name`` of ``job_id``; :class:`ExportNotFound` if absent."""
        folder = self.job_dir(job_id)
        if file_name.removesuffix(".ndjson") == file_name:
            raise ExportNotFound()
        path = folder / self.file_name(file_name.removesuffix(".ndjson"))
        if not path.is_file():
            raise ExportNotFound()
        return path

    def remove(self, job_id: str) -> None:
        """Delete the job's folder and everything in it (no error if already gone)."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)


__all__ = ["ExportStore", "NdjsonWriter"]
