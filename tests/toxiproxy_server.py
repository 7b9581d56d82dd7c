"""A real ``toxiproxy-server`` (built by the bootstrap) for tests, on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

TOXIPROXY_SERVER = Path(__file__).resolve().parents[1] / ".tools" / "bin" / "toxiproxy-server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def toxiproxy_server(log: Path) -> Iterator[str]:
    """Start the server (its output in ``log``), yield its API URL, kill its group after."""
    if not TOXIPROXY_SERVER.exists():
        pytest.fail(f"{TOXIPROXY_SERVER} is missing: run `bash scripts/bootstrap.sh tools`")
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(TOXIPROXY_SERVER), "-host", "127.0.0.1", "-port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{url}/version", timeout=0.5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    message = f"toxiproxy-server did not start: {log.read_text()}"
                    raise RuntimeError(message) from None
                time.sleep(0.05)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
