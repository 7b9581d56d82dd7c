"""The production server: gunicorn managing uvicorn workers, each running ``create_app()``.

Workers read their settings from the ``CHARTGUARD_*`` environment the caller prepared;
metrics are shared through ``PROMETHEUS_MULTIPROC_DIR`` (see :func:`prepare_multiproc_dir`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from ehr_core.metrics import mark_process_dead


def prepare_multiproc_dir(path: str | None = None) -> tuple[str, bool]:
    """Export ``PROMETHEUS_MULTIPROC_DIR`` for this server and its workers.

    A directory given (argument or environment) is emptied and reused: files left by an
    earlier run would be summed into this one. Without one, a fresh private temp dir is
    used, so two servers started from the same folder never mix or delete each other's
    metrics. Returns the path and whether it is private (remove it at exit).
    """
    given = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        directory = Path(given)
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        private = False
    else:
        directory = Path(tempfile.mkdtemp(prefix="chartguard-metrics-"))
        private = True
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())
    return str(directory.resolve()), private


def _child_exit(_server: Any, worker: Any) -> None:
    mark_process_dead(worker.pid)


def _post_fork(_server: Any, _worker: Any) -> None:
    # prometheus_client picks its value store when first imported; if that happened in
    # the master before PROMETHEUS_MULTIPROC_DIR was set, switch this worker to files.
    from prometheus_client import values

    values.ValueClass = values.get_value_class()


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn without a config file: options come from the ``serve`` command."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        workers: int,
        timeout: int = 30,
        cleanup_dir: str | None = None,
    ) -> None:
        def on_exit(_server: Any) -> None:
            if cleanup_dir:
                shutil.rmtree(cleanup_dir, ignore_errors=True)

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
            "on_exit": on_exit,
            "proc_name": "chartguard-ehr",
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from ehr_core.app import create_app

        return create_app()
