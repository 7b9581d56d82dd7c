"""A small reverse proxy that slows matching paths for real (it sleeps before forwarding).

Used to make one endpoint slow without touching the EHR: the load generator talks to the
proxy, the proxy forwards every request to the EHR over keep-alive connections.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class SlowProxy:
    """``with SlowProxy(upstream, pattern=r"/labs", delay=2.0) as url: ...``"""

    def __init__(self, upstream: str, *, pattern: str, delay: float) -> None:
        target = urlsplit(upstream)
        slow = re.compile(pattern)
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if slow.search(self.path.split("?")[0]):
                    time.sleep(delay)
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                    local.conn = conn
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    upstream = conn.getresponse()
                    data = upstream.read()
                except (OSError, http.client.HTTPException):
                    local.conn = None
                    self.send_error(502)
                    return
                self.send_response(upstream.status)
                for key, value in upstream.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
