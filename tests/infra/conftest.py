"""Fixtures for the local target's tests: private folders and ports, and cleanup.

Every process a test starts is registered with ``reaper`` and stopped (with its
process group) after the test, pass or fail. Folders live under a world-searchable
temporary directory because PostgreSQL runs as the ``postgres`` user.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.local.process import ProcessHandle, stop

TOXIPROXY_BIN = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "toxiproxy-server"


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A fresh folder every user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="cg-local-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[str], int]:
    """``free_port(host)``: a TCP port nobody listens on right now."""
    return _free_port


class Reaper:
    """Stops every registered process (and its group) at teardown."""

    def __init__(self) -> None:
        self.handles: list[ProcessHandle] = []
        self.callbacks: list[Callable[[], object]] = []

    def track(self, handle: ProcessHandle) -> ProcessHandle:
        self.handles.append(handle)
        return handle

    def on_teardown(self, callback: Callable[[], object]) -> None:
        self.callbacks.append(callback)

    def close(self) -> None:
        for callback in reversed(self.callbacks):
            try:
                callback()
            except Exception:  # teardown goes on; the test already reported its failure
                pass
        for handle in reversed(self.handles):
            stop(handle, timeout=10)


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    r = Reaper()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def toxiproxy_bin() -> Path:
    if not TOXIPROXY_BIN.exists():
        pytest.skip("toxiproxy-server not built yet (bash infra/toolchain/build.sh)")
    return TOXIPROXY_BIN


@pytest.fixture
def toxiproxy_server(toxiproxy_bin, workdir, reaper):
    """A private Toxiproxy server: ``(spec, admin, state)``, stopped after the test."""
    from infra.local import toxiproxy

    spec = toxiproxy.ToxiproxySpec(
        log_path=workdir / "logs" / "toxiproxy.log", port=_free_port("127.0.0.1"),
        binary=toxiproxy_bin,
    )
    state = toxiproxy.start(spec)
    reaper.track(state.process)
    return spec, toxiproxy.client(spec.api_url), state
