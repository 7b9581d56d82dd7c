"""The production server: gunicorn managing uvicorn workers, each running ``create_app()``.

Workers read their settings from the ``CHARTGUARD_*`` environment the caller prepared;
metrics are shared through ``PROMETHEUS_MULTIPROC_DIR``, which is emptied before start
(stale files from an earlier run would be summed into the new one).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from ehr_core.metrics import mark_process_dead

DEFAULT_MULTIPROC_DIR = "./prometheus_multiproc"


def prepare_multiproc_dir(path: str | None = None) -> str:
    """Create (or empty) the metrics directory and export ``PROMETHEUS_MULTIPROC_DIR``."""
    directory = Path(path or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or DEFAULT_MULTIPROC_DIR)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())
    return str(directory.resolve())


def _child_exit(_server: Any, worker: Any) -> None:
    mark_process_dead(worker.pid)


def _post_fork(_server: Any, _worker: Any) -> None:
    # prometheus_client picks its value store when first imported; if that happened in
    # the master before PROMETHEUS_MULTIPROC_DIR was set, switch this worker to files.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn without a config file: options come from the ``serve`` command."""

    def __init__(self, *, host: str, port: int, workers: int, timeout: int = 30) -> None:
        self.options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "uvicorn.workers.UvicornWorker",
            "timeout": timeout,
            "graceful_timeout": 10,
            "keepalive": 5,
            # Our middleware logs route templates; a raw access log could show a search
            # query holding a patient's name.
            "accesslog": None,
            "child_exit": _child_exit,
            "post_fork": _post_fork,
            "proc_name": "chartguard-ehr",
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from ehr_core.app import create_app

        return create_app()
