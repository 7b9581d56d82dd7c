"""The status service as its own process: SSE delivery and signed webhook delivery."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from monitoring.status import SIGNATURE_HEADER, SignatureError, StatusStore, verify
from monitoring.status.events import Event
from monitoring.status.webhooks import WebhookDispatcher
from tests.monitoring.status.payloads import AUTH, TOKEN, alert, webhook_body
from tests.monitoring.status.servers import status_service

pytestmark = pytest.mark.integration


@pytest.fixture
def status_url(tmp_path: Path) -> Iterator[str]:
    with status_service(tmp_path, token=TOKEN) as url:
        yield url


@pytest.fixture
def subscriber() -> Iterator[tuple[str, queue.Queue[tuple[bytes, dict[str, str]]]]]:
    """A real loopback HTTP server that records every POST; the first one answers 500."""
    received: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
    calls = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls["n"] += 1
            if calls["n"] == 1:  # prove bounded retries: fail the first attempt
                self.send_response(500)
            else:
                received.put((body, dict(self.headers)))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def read_events(lines: Iterator[str], wanted: str) -> dict:
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == wanted:
            return json.loads(line.removeprefix("data: "))
    raise AssertionError(f"stream ended before a {wanted} event")


def test_sse_delivers_incident_events(status_url: str) -> None:
    with httpx.Client(base_url=status_url, timeout=10) as http, \
            http.stream("GET", "/api/v1/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        r = http.post("/api/v1/alerts/webhook", json=webhook_body(alert()))
        assert r.status_code == 200
        data = read_events(lines, "incident.opened")
        assert data["incident"]["title"] == "east database is down"
        assert data["incident"]["status"] == "investigating"
        http.post("/api/v1/alerts/webhook", json=webhook_body(alert("resolved")))
        assert read_events(lines, "incident.resolved")["incident"]["status"] == "resolved"


def test_webhook_subscription_is_signed_and_retried(status_url: str, subscriber) -> None:
    hook_url, received = subscriber
    with httpx.Client(base_url=status_url, timeout=10) as http:
        refused = http.post("/api/v1/subscriptions", headers=AUTH,
                            json={"url": "http://192.0.2.1/hook", "components": []})
        assert refused.status_code == 422 and refused.json()["fields"] == ["url"]
        r = http.post("/api/v1/subscriptions", headers=AUTH,
                      json={"url": hook_url, "components": ["east/database"]})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        # Another component's alert must not reach this subscriber.
        http.post("/api/v1/alerts/webhook", json=webhook_body(
            alert(region="west", component="app", fingerprint="other")))
        http.post("/api/v1/alerts/webhook", json=webhook_body(alert()))
        bodies = []
        while True:
            body, headers = received.get(timeout=15)
            bodies.append(json.loads(body))
            verify(secret, body, headers[SIGNATURE_HEADER])
            with pytest.raises(SignatureError):
                verify(secret, body + b" ", headers[SIGNATURE_HEADER])
            if bodies[-1]["type"] == "incident.opened":
                break
        assert all("west" not in json.dumps(b["incident" if "incident" in b else "component"])
                   for b in bodies)
        subs = http.get("/api/v1/subscriptions", headers=AUTH).json()
        assert subs[0]["last_error"] is None and "secret" not in subs[0]


def test_failing_subscriber_gets_bounded_retries(tmp_path) -> None:
    hits: list[str] = []

    class AlwaysFails(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            hits.append(self.headers["X-Chartguard-Signature"])
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysFails)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    store = StatusStore(tmp_path / "s.db")
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
        sub = store.add_subscription(url=url, components=[], secret="x" * 20)

        async def run() -> bool:
            async with httpx.AsyncClient(timeout=2) as client:
                dispatcher = WebhookDispatcher(store=store, client=client, attempts=3,
                                               backoff=0.01)
                return await dispatcher.deliver(sub.id, url, "x" * 20,
                                                Event(id=1, type="incident.opened", data={}))

        assert asyncio.run(run()) is False
        assert len(hits) == 3
        assert store.subscription(sub.id)[0].last_error == "attempt 3: HTTP 503"
    finally:
        store.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
