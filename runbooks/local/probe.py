"""A write probe: a steady trickle of writes through the router during a cutover.

It measures what a user would see: the longest time no write succeeded (the write
unavailability window, the cutover RTO at the edge) and, afterwards, whether every
acknowledged write can still be read back (lost writes: must be 0). Writes create
synthetic patients (``Probe``/``Write<n>``, no real data) in the seeded practice
whose owner it logs in as; the ids it keeps are the ledger.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx

from runbooks.errors import RunbookError

__all__ = ["WriteProbe", "ProbeResult"]


@dataclass
class ProbeResult:
    attempted: int = 0
    acknowledged: list[tuple[float, str]] = field(default_factory=list)
    failures: list[tuple[float, int]] = field(default_factory=list)  # (time, status or 0)
    lost: list[str] = field(default_factory=list)
    checked: int = 0

    def longest_gap(self, start: float | None = None) -> float:
        """The longest time between two acknowledged writes (after ``start``, if given)."""
        times = [t for t, _ in self.acknowledged]
        if start is not None:
            before = [t for t in times if t <= start]
            times = ([before[-1]] if before else []) + [t for t in times if t > start]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        return max(gaps, default=0.0)


class WriteProbe:
    """Writes through ``base_url`` every ``interval`` seconds in a background thread.

    ``start()``/``stop()``; then :meth:`verify` reads every acknowledged write back.
    Bounded: it stops by itself after ``max_seconds``.
    """

    def __init__(self, base_url: str, *, email: str, password: str, interval: float = 0.05,
                 timeout: float = 3.0, max_seconds: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.email = email
        self.password = password
        self.interval = interval
        self.timeout = timeout
        self.max_seconds = max_seconds
        self.result = ProbeResult()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token: str | None = None

    def _login(self, client: httpx.Client, *, attempts: int = 8) -> str:
        """Log in, retrying server errors and timeouts as a practice's client would."""
        status: int | str = "no answer"
        for attempt in range(attempts):
            try:
                r = client.post("/api/v1/auth/login",
                                json={"email": self.email, "password": self.password})
                status = r.status_code
                if r.status_code == 200:
                    token = str(r.json()["token"])
                    self._token = token
                    return token
                if r.status_code < 500:
                    break  # wrong credentials do not get better by retrying
            except httpx.HTTPError as e:
                status = type(e).__name__
            time.sleep(min(2.0, 0.25 * 2**attempt))
        raise RunbookError(f"write probe: login as {self.email} answered {status}")

    def _headers(self, client: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token or self._login(client)}"}

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> WriteProbe:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            self._login(client)  # fail fast, before any step changes anything
        self._thread = threading.Thread(target=self._run, name="write-probe", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        n = 0
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                n += 1
                self.result.attempted += 1
                body = {"given_name": "Probe", "family_name": f"Write{n}",
                        "birth_date": dt.date(1990, 1, 1).isoformat()}
                # A key makes the write safe to resend: the router retries it when its
                # answer is lost on the way (a browned-out edge), the EHR applies it once.
                key = {"Idempotency-Key": f"probe-{uuid.uuid4().hex}"}
                try:
                    r = client.post("/api/v1/patients", json=body,
                                    headers={**self._headers(client), **key})
                    if r.status_code == 401:
                        self._token = None
                    if r.status_code in (200, 201):
                        self.result.acknowledged.append((time.time(), str(r.json()["id"])))
                    else:
                        self.result.failures.append((time.time(), r.status_code))
                except (httpx.HTTPError, RunbookError):
                    self.result.failures.append((time.time(), 0))
                self._stop.wait(self.interval)

    def stop(self) -> ProbeResult:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        return self.result

    def verify(self, *, retries: int = 20) -> ProbeResult:
        """Read every acknowledged write back through the router; fills ``lost``."""
        lost = []
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            for _, pid in self.result.acknowledged:
                for attempt in range(retries):
                    try:
                        r = client.get(f"/api/v1/patients/{pid}", headers=self._headers(client))
                    except httpx.HTTPError:
                        time.sleep(0.2)
                        continue
                    if r.status_code == 401:
                        self._token = None
                        continue
                    if r.status_code == 200:
                        break
                    if r.status_code == 404:
                        lost.append(pid)
                        break
                    time.sleep(0.2 * (attempt + 1))
                else:
                    raise RunbookError(f"write probe: could not read back write {pid}")
        self.result.lost = lost
        self.result.checked = len(self.result.acknowledged)
        return self.result
