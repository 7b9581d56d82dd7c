"""Password work with a bound: argon2 may be slow, it may not starve the EHR.

argon2id at OWASP's parameters (:mod:`ehr_core.security`) costs about 25 ms of CPU per
check here, by design. A Monday's sign-ins, or a flood of them, used to run in the
request thread pool at the same priority as everything else: a burst of logins took both
cores, the chart reads queued behind them and ``/readyz`` missed the router's check
timeout, so the router took a healthy primary out. Every password check and hash of a
request now goes through the worker's :class:`PasswordGate`:

- at most ``concurrency`` run at once (per worker process), in threads of their own at
  a lower CPU priority (``nice``): reads, health checks and the database go first and
  password work takes what is left;
- at most ``queue`` more wait for a turn; beyond that, or after waiting
  ``wait_seconds``, the request is refused at once with 429 and ``Retry-After``
  (:class:`~ehr_core.errors.TooManyRequests`), which a client retries, instead of
  holding a connection or a request thread for a turn it may never get.

The parameters of argon2 itself are unchanged. Waiting callers in async routes hold no
thread (:meth:`PasswordGate.check_async`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ehr_core.errors import TooManyRequests
from ehr_core.metrics import Metrics
from ehr_core.security import hash_password, verify_password

T = TypeVar("T")


def _lower_priority(nice: int) -> Callable[[], None]:
    def lower() -> None:
        # Linux: a thread's nice value is its own (PRIO_PROCESS on its thread id).
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (OSError, AttributeError):
            pass  # not Linux, or not allowed: the bound on concurrency still holds

    return lower


class PasswordGate:
    """Runs password checks and hashes with bounded concurrency, queue and wait."""

    def __init__(
        self,
        *,
        concurrency: int,
        queue: int,
        wait_seconds: float,
        nice: int = 10,
        metrics: Metrics | None = None,
        check: Callable[[str | None, str], bool] = verify_password,
        hasher: Callable[[str], str] = hash_password,
    ) -> None:
        self._check = check
        self._hash = hasher
        self.concurrency = concurrency
        self.queue = queue
        self.wait_seconds = wait_seconds
        self.metrics = metrics
        self._pending = 0
        self._lock = threading.Lock()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix="password",
            initializer=_lower_priority(nice),
        )
        # A rough cost per check, for Retry-After (argon2's, measured as it runs).
        self._seconds_each = 0.05

    # -- the two operations ------------------------------------------------------------

    def check(self, password_hash: str | None, password: str) -> bool:
        """:func:`~ehr_core.security.verify_password`, gated (blocks this thread)."""
        return self._submit(self._check, password_hash, password).result()

    async def check_async(self, password_hash: str | None, password: str) -> bool:
        """:meth:`check` for async routes: waits without holding a thread."""
        future = self._submit(self._check, password_hash, password)
        return await asyncio.wrap_future(future)

    def hash(self, password: str) -> str:
        """:func:`~ehr_core.security.hash_password`, gated (blocks this thread)."""
        return self._submit(self._hash, password).result()

    # -- the gate ---------------------------------------------------------------------

    def _submit(self, fn: Callable[..., T], *args: object) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._pending >= self.concurrency + self.queue:
                self._refuse()
            self._pending += 1
        queued_at = time.monotonic()
        try:
            future = self._executor.submit(self._run, fn, queued_at, *args)
        except RuntimeError:  # executor shut down
            self._done()
            raise
        # Counted out when the future ends however it ends: run, refused, or cancelled
        # before it ran (a caller that went away).
        future.add_done_callback(lambda _future: self._done())
        return future

    def _run(self, fn: Callable[..., T], queued_at: float, *args: object) -> T:
        if time.monotonic() - queued_at > self.wait_seconds:
            self._refuse()
        started = time.monotonic()
        result = fn(*args)
        self._seconds_each = 0.8 * self._seconds_each + 0.2 * (time.monotonic() - started)
        self._count("done")
        return result

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def _refuse(self) -> None:
        self._count("refused")
        ahead = self._pending / max(self.concurrency, 1)
        retry_after = max(1, math.ceil(ahead * self._seconds_each))
        raise TooManyRequests(
            "too many sign-ins at once: retry after the time in Retry-After",
            retry_after=retry_after,
        )

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.password_work.labels(self.metrics.region, outcome).inc()

    @property
    def pending(self) -> int:
        """Checks and hashes running or waiting now."""
        return self._pending

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["PasswordGate"]
