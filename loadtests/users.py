"""Locust users modelled on a practice's day: front desk, clinicians, the practice owner.

Each simulated person logs in once as a seeded user of its practice (``staff{k}``,
``clinician{k}``, ``owner`` ``@practice-NNNN.test``, docs/interfaces.md) and keeps that
session. People are spread over the profile's practices round robin (across worker
processes too). Think time is derived from the profile: a person of role *r* makes
``actions_per_hour[r] * monday_peak_factor`` requests an hour, with the think time before
every request (a task of two requests takes two gaps), jittered around the mean so people
do not click in step. A person who falls behind (slow answers) catches up at most two
requests, never bursts: the rate the system could not sustain shows as a shortfall.

Every write goes through :meth:`PracticeUser.api` with a :class:`Write`: it carries a fresh
``Idempotency-Key``, is retried with the same key when its answer was lost (see
:mod:`loadtests.retry`; every attempt counts in Locust's stats, a failed one as a failure),
and is recorded in the ledger's history: invoked (fsync'd) before its first attempt, with
the version it expects (its ``If-Match``), then completed once: 2xx as acknowledged (with
the id, version and region the EHR returned), timeouts, broken connections and 5xx (except
503 ``read_only``) after the last attempt as indeterminate, clean refusals as failed.

Importing this module imports Locust (and with it gevent's monkey-patching): only the
runner and worker processes do.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import gevent
from locust import FastHttpUser
from locust.exception import StopUser
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from loadtests.ledger import (
    LedgerEntry,
    LedgerWriter,
    WriteStatus,
    content_hash,
    field_hashes,
)
from loadtests.profile import Profile, Role
from loadtests.retry import (
    IDEMPOTENCY_HEADER,
    IN_FLIGHT,
    REPLAYED_HEADER,
    RetryPolicy,
    final_outcome,
    retryable,
)

__all__ = ["USER_CLASS_NAMES", "PracticeUser", "Wiring", "Write", "build_user_classes"]

REGION_HEADER = "X-Chartguard-Region"
USER_CLASS_NAMES = {Role.front_desk: "FrontDesk", Role.clinician: "Clinician", Role.owner: "Owner"}
# A person behind schedule makes up at most this many think times (a slow page is followed
# by a couple of quick clicks, not by a burst of everything missed).
CATCH_UP_GAPS = 2
_LOGIN_PREFIX = {Role.front_desk: "staff", Role.clinician: "clinician", Role.owner: "owner"}
_GIVEN = ("Alex", "Sam", "Robin", "Jordan", "Casey", "Morgan", "Riley", "Avery", "Quinn", "Jamie")
_FAMILY = ("Walker", "Nguyen", "Okafor", "Silva", "Keller", "Haddad", "Novak", "Ito", "Moreau")
# Name lookups type an initial; these start many names.
_INITIALS = "ABCDGHKLMNPRSTW"
_STREETS = ("Elm St", "Oak Ave", "Maple Rd", "Cedar Ln", "Birch Way", "Harbor Dr")
_SUBSTANCES = ("penicillin", "latex", "peanuts", "sulfa drugs", "shellfish", "aspirin")


@dataclass(frozen=True)
class Wiring:
    """What the user classes need from the process that runs them."""

    profile: Profile
    password: str
    ledger: LedgerWriter | None = None
    worker_index: int = 0
    worker_count: int = 1
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class Write:
    """A write to record in the ledger.

    ``values`` are the fields written, as the EHR returns them on a read; ``read`` (a path
    template with ``{id}``) reads the resource back; ``locate`` is a listing that contains
    it (with ``key``, a token written into it, when the id may never come back).
    """

    kind: str
    op: str
    values: Mapping[str, Any]
    id: str | None = None
    read: str | None = None
    locate: str | None = None
    key: str | None = None


@dataclass
class Result:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _token() -> str:
    return uuid.uuid4().hex[:16]


class PracticeUser(FastHttpUser):
    """A person at a practice: logs in once, then works at the profile's pace."""

    abstract = True
    role: ClassVar[Role]
    wiring: ClassVar[Wiring]
    _counter: ClassVar[itertools.count[int]]

    practice: str = ""
    email: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.network_timeout = self.wiring.timeout
        self.connection_timeout = self.wiring.timeout
        self.rate = self.wiring.profile.user_rate(self.role)
        self.auth: dict[str, str] = {}
        self.me: dict[str, Any] = {}
        self.patients: list[int] = []
        self.appointments: list[dict[str, Any]] = []
        self._requests_in_task = 0
        self._next_due = 0.0

    # -- identity and session -------------------------------------------------------------

    def _identity(self) -> tuple[str, str]:
        wiring = self.wiring
        local = next(type(self)._counter)
        index = local * wiring.worker_count + wiring.worker_index
        profile = wiring.profile
        practice = profile.practice_slug(index)
        k = (index // profile.practices) % profile.seeded_of(self.role) + 1
        prefix = _LOGIN_PREFIX[self.role]
        login = prefix if self.role is Role.owner else f"{prefix}{k}"
        return practice, f"{login}@{practice}.test"

    def on_start(self) -> None:
        self.practice, self.email = self._identity()
        self._login()
        self._requests_in_task = 0
        if self.rate > 0:
            # Start at a random point of the first gap so people's clicks do not align.
            self._next_due = time.monotonic() + random.uniform(0, 1 / self.rate)

    def _login(self) -> None:
        """Log in (again, when the session expired); retries with backoff until it works."""
        delay = 1.0
        while True:
            result = self.api(
                "POST",
                "/api/v1/auth/login",
                json={"email": self.email, "password": self.wiring.password},
                authenticated=False,
            )
            if result.ok and isinstance(result.body, dict):
                self.auth = {"Authorization": f"Bearer {result.body['token']}"}
                self.me = dict(result.body.get("user") or {})
                break
            # Keep trying (an EHR mid-failover); back off so logins do not storm it.
            gevent.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 10.0)

    def wait_time(self) -> float:  # type: ignore[override]
        """Think time is spent before each request (:meth:`_pace`), not between tasks; a
        task that made no request waits one gap so an idle person does not spin."""
        if self.rate <= 0:
            return 3600.0
        made, self._requests_in_task = self._requests_in_task, 0
        return 0.0 if made else 1.0 / self.rate

    def _pace(self) -> None:
        """Wait until this person's next request is due, then schedule the one after.

        Each request (not each task) is paced, so a person's rate is steady at any time
        scale. Gaps are jittered around the mean (not exponential: Poisson noise alone
        would swing a short window's rate by more than the 5% "full scale" allows). A
        person behind schedule (a slow answer) catches up at most ``CATCH_UP_GAPS`` gaps,
        never bursts.
        """
        if self.rate <= 0:
            return
        now = time.monotonic()
        if self._next_due > now:
            # Think time is waiting, as Locust's own wait(): a stopping run ends this person
            # now instead of after its stop timeout (nothing is in flight while it thinks).
            if self._state == LOCUST_STATE_STOPPING:
                raise StopUser()
            self._state = LOCUST_STATE_WAITING
            gevent.sleep(self._next_due - now)
            if self._state == LOCUST_STATE_STOPPING:
                raise StopUser()
            self._state = LOCUST_STATE_RUNNING
            now = time.monotonic()
        gap = 1.0 / self.rate
        self._next_due = max(self._next_due, now - CATCH_UP_GAPS * gap)
        self._next_due += gap * random.uniform(0.8, 1.2)

    # -- requests --------------------------------------------------------------------------

    def api(
        self,
        method: str,
        path: str,
        *,
        name: str | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        write: Write | None = None,
        authenticated: bool = True,
        expected: Callable[[int], bool] | None = None,
    ) -> Result:
        """One request, named by its template; writes are recorded in the ledger.

        ``expected`` marks statuses that are part of normal work (a 409 on a stale edit)
        as successes in the stats; anything else outside 2xx is a failure. A write carries
        an ``Idempotency-Key`` and is retried with it while its fate is open.
        """
        if authenticated:
            self._pace()
        self._requests_in_task += 1
        all_headers = {**(self.auth if authenticated else {}), **(headers or {})}
        label = name or path
        if write is None:
            result, response = self._send(method, path, label, json, all_headers, expected)
        else:
            key = str(uuid.uuid4())
            all_headers[IDEMPOTENCY_HEADER] = key
            entry = self._invoke(write, key=key, expects=_if_match(headers))
            policy = self.wiring.retry
            deadline = time.monotonic() + policy.budget_seconds
            attempts = 0
            while True:
                attempts += 1
                result, response = self._send(method, path, label, json, all_headers, expected)
                if (
                    attempts >= policy.attempts
                    or not retryable(result.status, result.body)
                    or self._state == LOCUST_STATE_STOPPING
                ):
                    break
                delay = policy.delay(attempts, _header(result.headers, "Retry-After"))
                if time.monotonic() + delay > deadline:
                    break
                gevent.sleep(delay)
            if entry is not None:
                self._record(entry, write, result, response, attempts=attempts)
        if result.status == 401 and authenticated:
            self._login()  # the session expired (a long soak): a person logs in again
        return result

    def _send(
        self,
        method: str,
        path: str,
        label: str,
        json: Any,
        headers: Mapping[str, str],
        expected: Callable[[int], bool] | None,
    ) -> tuple[Result, Any]:
        """One HTTP request, counted in Locust's stats under ``label``."""
        with self.client.request(
            method, path, name=label, json=json, headers=dict(headers), catch_response=True
        ) as response:
            status = int(response.status_code or 0)
            body: Any = None
            if status and response.content:
                try:
                    body = response.json()
                except ValueError:
                    body = None
            resp_headers = _plain_headers(response.headers) if status else {}
            code = body.get("error") if isinstance(body, dict) else None
            # A key still in flight is never "normal work", even where a 409 is.
            normal = expected is not None and expected(status) and code != IN_FLIGHT
            if 200 <= status < 300 or normal:
                response.success()
            elif status == 0:
                response.failure(f"no response ({type(response.error).__name__})")
            else:
                response.failure(f"HTTP {status}" + (f" {code}" if code else ""))
        return Result(status, body, resp_headers), response

    def _invoke(self, write: Write, *, key: str, expects: int | None) -> LedgerEntry | None:
        """Put ``write`` in the ledger's history before it is sent (None: no ledger)."""
        ledger = self.wiring.ledger
        if ledger is None:
            return None
        return ledger.invoke(
            LedgerEntry(
                status=WriteStatus.indeterminate,
                op=write.op,
                kind=write.kind,
                practice=self.practice,
                fields=field_hashes(write.values),
                hash=content_hash(dict(write.values)),
                at=time.time(),
                invoked=time.time(),
                id=write.id,
                read=write.read.format(id=write.id) if write.read and write.id else None,
                key=write.key,
                locate=write.locate,
                idempotency_key=key,
                expects=expects,
            )
        )

    def _record(
        self, invoked: LedgerEntry, write: Write, result: Result, response: Any, *, attempts: int
    ) -> None:
        """Complete the invoked write with its outcome."""
        ledger = self.wiring.ledger
        assert ledger is not None
        body = result.body if isinstance(result.body, dict) else {}
        status = final_outcome(result.status, body)
        rid = write.id
        if rid is None and status is WriteStatus.ack and body.get("id") is not None:
            rid = str(body["id"])
        version = body.get("version") if status is WriteStatus.ack else None
        error = None
        if status is not WriteStatus.ack:
            error = f"HTTP {result.status}" if result.status else type(response.error).__name__
        ledger.append(
            replace(
                invoked,
                status=status,
                at=time.time(),
                id=rid,
                read=write.read.format(id=rid) if write.read and rid is not None else None,
                region=_header(result.headers, REGION_HEADER),
                version=int(version) if isinstance(version, int) else None,
                http_status=result.status or None,
                error=error,
                attempts=attempts,
                replayed=(_header(result.headers, REPLAYED_HEADER) == "true") or None,
            )
        )

    # -- shared work -----------------------------------------------------------------------

    def schedule(self, provider_id: int | None = None) -> None:
        """Today's schedule; remembers its patients and appointments."""
        query = f"?date={_today()}" + (f"&provider_id={provider_id}" if provider_id else "")
        result = self.api("GET", "/api/v1/schedule" + query, name="/api/v1/schedule")
        if result.ok and isinstance(result.body, dict):
            items = [i for i in result.body.get("items", []) if isinstance(i, dict)]
            self.appointments = items
            self._remember(i.get("patient_id") for i in items)

    def search(self) -> None:
        """A name lookup by its first letters."""
        prefix = random.choice(_INITIALS)
        result = self.api(
            "GET", f"/api/v1/patients?q={prefix}&page_size=20", name="/api/v1/patients"
        )
        if result.ok and isinstance(result.body, dict):
            self._remember(i.get("id") for i in result.body.get("items", []))

    def _remember(self, ids: Any) -> None:
        known = set(self.patients)
        for pid in ids:
            if isinstance(pid, int) and pid not in known:
                self.patients.append(pid)
                known.add(pid)
        del self.patients[:-200]

    def patient(self) -> int | None:
        """A patient this person has seen today (looks some up first if none)."""
        if not self.patients:
            self.search()
        return random.choice(self.patients) if self.patients else None


def _plain_headers(headers: Any) -> dict[str, str]:
    """Response headers as ``{name: value}`` (the first of repeated ones)."""
    plain: dict[str, str] = {}
    for key, value in headers.items() if headers is not None else ():
        plain.setdefault(str(key), str(value))  # the first of repeated headers
    return plain


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _if_match(headers: Mapping[str, str] | None) -> int | None:
    """The version a conditional write expects, from its ``If-Match: "<version>"``."""
    value = _header(headers or {}, "If-Match")
    if value is None:
        return None
    digits = value.removeprefix("W/").strip().strip('"')
    return int(digits) if digits.isdigit() else None


class FrontDeskWork(PracticeUser):
    """Schedule, check-in, demographics lookups and edits, the odd walk-in."""

    abstract = True

    def todays_schedule(self) -> None:
        self.schedule()

    def check_in(self) -> None:
        booked = [a for a in self.appointments if a.get("status") == "booked"]
        if not booked:
            self.schedule()
            return
        appointment = random.choice(booked)
        appointment["status"] = "arrived"
        aid = str(appointment["id"])
        values = {"status": "arrived"}
        self.api(
            "PATCH",
            f"/api/v1/appointments/{aid}",
            name="/api/v1/appointments/{id}",
            json=values,
            write=Write(
                "appointment", "check-in", values, id=aid, read="/api/v1/appointments/{id}"
            ),
        )

    def lookup(self) -> None:
        self.search()
        pid = self.patient()
        if pid is not None:
            self.api("GET", f"/api/v1/patients/{pid}", name="/api/v1/patients/{id}")

    def edit_demographics(self) -> None:
        pid = self.patient()
        if pid is None:
            return
        current = self.api("GET", f"/api/v1/patients/{pid}", name="/api/v1/patients/{id}")
        if not current.ok or not isinstance(current.body, dict):
            return
        values = {
            "phone": f"+1 555 {random.randint(100, 999)} {random.randint(1000, 9999)}",
            "address": f"{random.randint(1, 999)} {random.choice(_STREETS)}, Springfield",
        }
        self.api(
            "PATCH",
            f"/api/v1/patients/{pid}",
            name="/api/v1/patients/{id}",
            json=values,
            headers={"If-Match": f'"{current.body.get("version")}"'},
            write=Write("patient", "update", values, id=str(pid), read="/api/v1/patients/{id}"),
            expected=lambda status: status == 409,  # someone else edited first: normal
        )

    def register_walk_in(self) -> None:
        mrn = f"LT-{_token()}"
        values = {
            "mrn": mrn,
            "given_name": random.choice(_GIVEN),
            "family_name": random.choice(_FAMILY),
            "birth_date": f"{random.randint(1940, 2020)}-{random.randint(1, 12):02d}-15",
            "sex": random.choice(("female", "male", "other", "unknown")),
        }
        result = self.api(
            "POST",
            "/api/v1/patients",
            json=values,
            write=Write(
                "patient",
                "create",
                values,
                read="/api/v1/patients/{id}",
                locate=f"/api/v1/patients?q={mrn}",
                key=mrn,
            ),
        )
        if result.ok and isinstance(result.body, dict):
            self._remember([result.body.get("id")])


class ClinicianWork(PracticeUser):
    """Charts, labs, allergies and medications, progress notes, order review."""

    abstract = True

    def my_schedule(self) -> None:
        self.schedule(provider_id=self.me.get("id"))

    def open_chart(self) -> None:
        pid = self.patient()
        if pid is not None:
            self.api("GET", f"/api/v1/patients/{pid}/chart", name="/api/v1/patients/{id}/chart")

    def labs(self) -> None:
        pid = self.patient()
        if pid is not None:
            self.api("GET", f"/api/v1/patients/{pid}/labs", name="/api/v1/patients/{id}/labs")

    def allergies_and_medications(self) -> None:
        pid = self.patient()
        if pid is None:
            return
        for what in ("allergies", "medications"):
            self.api(
                "GET", f"/api/v1/patients/{pid}/{what}", name=f"/api/v1/patients/{{id}}/{what}"
            )

    def order_review(self) -> None:
        pid = self.patient()
        if pid is not None:
            self.api(
                "GET",
                f"/api/v1/patients/{pid}/labs?page_size=50",
                name="/api/v1/patients/{id}/labs",
            )

    def write_and_sign_note(self) -> None:
        pid = self.patient()
        if pid is None:
            return
        token = _token()
        note = f"Progress note (ref {token}). Seen today; stable; follow up in two weeks."
        values = {"patient_id": pid, "note": note}
        created = self.api(
            "POST",
            "/api/v1/encounters",
            json=values,
            write=Write(
                "encounter",
                "create",
                values,
                read="/api/v1/encounters/{id}",
                locate=f"/api/v1/patients/{pid}/encounters?page_size=200",
                key=token,
            ),
        )
        if not created.ok or not isinstance(created.body, dict):
            return
        eid = str(created.body["id"])
        signed = {"status": "signed"}
        self.api(
            "POST",
            f"/api/v1/encounters/{eid}/sign",
            name="/api/v1/encounters/{id}/sign",
            write=Write("encounter", "sign", signed, id=eid, read="/api/v1/encounters/{id}"),
        )

    def record_allergy(self) -> None:
        pid = self.patient()
        if pid is None:
            return
        token = _token()
        values = {
            "substance": random.choice(_SUBSTANCES),
            "reaction": f"rash (ref {token})",
            "severity": random.choice(("mild", "moderate", "severe")),
        }
        listing = f"/api/v1/patients/{pid}/allergies?page_size=200"
        self.api(
            "POST",
            f"/api/v1/patients/{pid}/allergies",
            name="/api/v1/patients/{id}/allergies",
            json=values,
            write=Write("allergy", "create", values, locate=listing, key=token),
        )


class OwnerWork(PracticeUser):
    """Exports and audit views."""

    abstract = True
    export_status: str | None = None

    def audit_view(self) -> None:
        self.api("GET", "/api/v1/audit?page=1&page_size=50", name="/api/v1/audit")

    def export(self) -> None:
        if self.export_status:
            self.api("GET", self.export_status, name="/fhir/r4/$export-status")
            self.export_status = None
            return
        result = self.api(
            "GET",
            "/fhir/r4/$export",
            headers={"Accept": "application/fhir+json", "Prefer": "respond-async"},
        )
        location = _header(result.headers, "Content-Location")
        if result.status == 202 and location:
            self.export_status = location

    def practice_day(self) -> None:
        self.schedule()


_WORK: dict[Role, type[PracticeUser]] = {
    Role.front_desk: FrontDeskWork,
    Role.clinician: ClinicianWork,
    Role.owner: OwnerWork,
}


def build_user_classes(wiring: Wiring) -> list[type[PracticeUser]]:
    """One Locust user class per role with people, weighted by the profile's head count.

    Class names are fixed (``FrontDesk``, ``Clinician``, ``Owner``) so a master and its
    workers, each building its own classes from the same profile, agree on them. Task
    weights come from the profile's ``task_mix`` (names are the work methods below).
    """
    classes: list[type[PracticeUser]] = []
    for role, base in _WORK.items():
        people = wiring.profile.people_of(role)
        if people == 0:
            continue
        mix = wiring.profile.task_mix_of(role)
        attributes = {
            "abstract": False,
            "role": role,
            "wiring": wiring,
            "weight": people,
            # The profile's task mix: {method: weight}, Locust picks tasks by weight.
            "tasks": {getattr(base, name): weight for name, weight in mix.items() if weight},
            "_counter": itertools.count(),
            "__module__": __name__,
        }
        classes.append(type(USER_CLASS_NAMES[role], (base,), attributes))
    return classes
