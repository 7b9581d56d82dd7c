"""Password work is bounded: concurrency, queue and wait; beyond them 429, never a pile-up.

The gate runs real threads; the argon2 work is replaced by functions that block until
the test releases them, so every bound is exercised deterministically (no timing).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ehr_core import Settings, create_app
from ehr_core.errors import TooManyRequests
from ehr_core.passwords import PasswordGate

pytestmark = pytest.mark.unit


class Blocking:
    """A password check that holds until released, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()

    def __call__(self, _hash: str | None, _password: str) -> bool:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.started.release()
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        return True


@pytest.fixture
def blocking() -> Iterator[Blocking]:
    work = Blocking()
    yield work
    work.release.set()


def test_at_most_concurrency_run_and_the_queue_is_bounded(blocking: Blocking) -> None:
    gate = PasswordGate(concurrency=2, queue=3, wait_seconds=30, check=blocking)
    pool = concurrent.futures.ThreadPoolExecutor(8)
    try:
        admitted = [pool.submit(gate.check, "h", "pw") for _ in range(5)]
        for _ in range(2):
            assert blocking.started.acquire(timeout=5)
        # 2 running + 3 waiting: the sixth is refused at once, with a Retry-After.
        with pytest.raises(TooManyRequests) as refused:
            gate.check("h", "pw")
        assert refused.value.status_code == 429
        assert int(refused.value.headers["Retry-After"]) >= 1
        blocking.release.set()
        assert all(f.result(timeout=10) for f in admitted)
        assert blocking.most == 2
        _settles(gate)
    finally:
        pool.shutdown(wait=True)
        gate.close()


def test_a_check_that_waited_too_long_is_refused_not_run(blocking: Blocking) -> None:
    ran: list[str] = []

    def quick(_hash: str | None, password: str) -> bool:
        ran.append(password)
        return True

    gate = PasswordGate(concurrency=1, queue=5, wait_seconds=0.2, check=blocking)
    pool = concurrent.futures.ThreadPoolExecutor(2)
    try:
        first = pool.submit(gate.check, "h", "first")
        assert blocking.started.acquire(timeout=5)
        gate._check = quick  # the queued one would run this, were it not refused
        queued = pool.submit(gate.check, "h", "queued")
        threading.Event().wait(0.4)  # longer than wait_seconds
        blocking.release.set()
        assert first.result(timeout=10) is True
        with pytest.raises(TooManyRequests):
            queued.result(timeout=10)
        assert ran == []
    finally:
        pool.shutdown(wait=True)
        gate.close()


def _settles(gate: PasswordGate) -> None:
    """Nothing is counted as running or waiting once every caller has its answer (the
    count drops right after each answer is handed over)."""
    for _ in range(100):
        if gate.pending == 0:
            return
        threading.Event().wait(0.01)
    assert gate.pending == 0


def test_a_caller_that_goes_away_frees_its_place(blocking: Blocking) -> None:
    """A sign-in whose client left while it waited (its task cancelled) does not keep a
    place in the queue: the gate must not fill up with ghosts and refuse everybody."""
    gate = PasswordGate(concurrency=1, queue=1, wait_seconds=30, check=blocking)
    pool = concurrent.futures.ThreadPoolExecutor(1)

    async def leave_while_waiting() -> None:
        waiting = asyncio.ensure_future(gate.check_async("h", "pw"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    try:
        running = pool.submit(gate.check, "h", "pw")
        assert blocking.started.acquire(timeout=5)
        asyncio.run(leave_while_waiting())
        assert gate.pending == 1  # only the running one
        blocking.release.set()
        assert running.result(timeout=10) is True
        _settles(gate)
    finally:
        pool.shutdown(wait=True)
        gate.close()


def test_password_threads_run_at_a_lower_priority() -> None:
    def nice_of_this_thread(_hash: str | None, _password: str) -> bool:
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[16]) == 10

    gate = PasswordGate(concurrency=1, queue=0, wait_seconds=5, nice=10, check=nice_of_this_thread)
    try:
        assert gate.check("h", "pw") is True
    finally:
        gate.close()


def test_a_refused_login_is_a_429_with_retry_after_in_the_error_shape(
    sqlite_settings: Settings, blocking: Blocking
) -> None:
    """No room at the gate: the login answers 429 at once, nothing is signed in."""
    settings = sqlite_settings.model_copy(update={"password_concurrency": 1, "password_queue": 0})
    with TestClient(create_app(settings)) as client:
        client.app.state.passwords._check = blocking  # type: ignore[attr-defined]
        pool = concurrent.futures.ThreadPoolExecutor(1)
        try:
            body = {"email": "nobody@example.test", "password": "long-enough-password"}
            held = pool.submit(client.post, "/api/v1/auth/login", json=body)
            assert blocking.started.acquire(timeout=10)
            r = client.post("/api/v1/auth/login", json=body)
            assert r.status_code == 429, r.text
            assert r.headers["Retry-After"].isdigit()
            assert r.json()["error"] == "too_many_requests" and r.json()["fields"] == []
            blocking.release.set()
            # The held one ran its check (the fake says yes) and found no such account.
            assert held.result(timeout=10).status_code == 401
        finally:
            pool.shutdown(wait=True)


def test_the_real_hash_still_verifies_through_the_gate() -> None:
    gate = PasswordGate(concurrency=1, queue=1, wait_seconds=5)
    try:
        digest = gate.hash("a long enough password")
        assert digest.startswith("$argon2id$")
        assert gate.check(digest, "a long enough password") is True
        assert gate.check(digest, "a wrong password here") is False
    finally:
        gate.close()
