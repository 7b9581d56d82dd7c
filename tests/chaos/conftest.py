"""Fixtures for chaos tests: a real toxiproxy-server and tiny loopback upstreams.

Every server started here is stopped in a ``finally``; the Toxiproxy server is shared by
the session and emptied (all proxies deleted) after each test so no state leaks.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaos.adapter import ToxiproxyAdapter
from tests.toxiproxy_server import toxiproxy_server

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def toxiproxy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with toxiproxy_server(tmp_path_factory.mktemp("toxiproxy") / "server.log") as url:
        yield url


@pytest.fixture
def toxiproxy(toxiproxy_url: str) -> Iterator[ToxiproxyAdapter]:
    """An adapter to the shared server; every proxy is deleted after the test."""
    adapter = ToxiproxyAdapter(toxiproxy_url)
    try:
        yield adapter
    finally:
        for name in adapter.proxies():
            adapter.delete_proxy(name)


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:  # reset_peer and packet_loss tests cut connections on purpose
            pass


class _Banner(socketserver.BaseRequestHandler):
    """Sends ``server.payload`` on connect, then closes."""

    def handle(self) -> None:
        self.request.sendall(self.server.payload)  # type: ignore[attr-defined]


class _Threaded(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _serve(server: socketserver.BaseServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]  # type: ignore[misc]
        yield f"{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def echo_upstream() -> Iterator[str]:
    """A TCP echo server on loopback; yields ``host:port``."""
    yield from _serve(_Threaded(("127.0.0.1", 0), _Echo))


BANNER = bytes(range(256)) * 200  # 51,200 bytes


@pytest.fixture
def banner_upstream() -> Iterator[str]:
    """A TCP server that sends :data:`BANNER` on connect and closes."""
    server = _Threaded(("127.0.0.1", 0), _Banner)
    server.payload = BANNER  # type: ignore[attr-defined]
    yield from _serve(server)


class _Http(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body, status, kind = b'{"status":"ok"}', 200, "application/json"
        if self.path.startswith("/garbage") or self.path.startswith("/api/v1/query"):
            body, kind = b"this is not a prometheus answer", "text/plain"
        elif self.path.startswith("/fail"):
            status = 503
        elif self.path.startswith("/until/"):  # 503 until the epoch in the path, then 200
            status = 200 if time.time() >= float(self.path.rsplit("/", 1)[1]) else 503
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_upstream() -> Iterator[str]:
    """A small HTTP server on loopback: ``/ok`` 200 JSON, ``/fail`` 503, ``/until/<epoch>`` 503
    until then, anything else 200 with a body that is not JSON."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    server.daemon_threads = True
    yield from _serve(server)


@pytest.fixture
def links(toxiproxy: ToxiproxyAdapter, http_upstream: str) -> dict[str, str]:
    """Three proxies named like the stack's links, all to the HTTP upstream; name -> listen."""
    return {
        name: toxiproxy.create_proxy(name=name, listen="127.0.0.1:0", upstream=http_upstream).listen
        for name in ("edge-east", "repl-west", "db-west")
    }
