"""Before a run starts: is the target an EHR that holds the profile's practices?

Without this check a run against a wrong port or an unseeded EHR plays its whole shape
and ends in a FAIL full of refused connections or 401 logins, which says nothing about
what to do. :func:`check_target` logs in as the owner of the profile's first and last
practice (the seeded logins, docs/interfaces.md) and raises :class:`PreflightError`
naming the fix when the target cannot be reached or a practice is missing. Any other
answer (a 503 from a read-only region, a slow login) lets the run go ahead: judging
those is the run's job. Each session it opens is closed again.
"""

from __future__ import annotations

import time

import httpx

from loadtests.errors import PreflightError
from loadtests.profile import Profile

__all__ = ["check_target", "describe_http_error"]

# A browned-out edge resets some connections: a few tries before calling it unreachable.
ATTEMPTS = 3


def describe_http_error(error: httpx.HTTPError) -> str:
    """A few words on why a request got no answer (for messages a person acts on)."""
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(error, httpx.ConnectError):
        return "connection refused or failed"
    return type(error).__name__


def _login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    last: httpx.HTTPError | None = None
    for attempt in range(ATTEMPTS):
        try:
            return client.post("/api/v1/auth/login", json={"email": email, "password": password})
        except httpx.HTTPError as e:
            last = e
            time.sleep(0.5 * (attempt + 1))
    assert last is not None
    raise PreflightError(
        f"cannot reach {client.base_url} ({describe_http_error(last)}): is the EHR or the "
        "router running there? (`chartguard ehr serve`, or `chartguard up` for the local stack)"
    ) from last


def check_target(target: str, *, profile: Profile, password: str, timeout: float) -> None:
    """Raise :class:`PreflightError` if ``target`` is unreachable or lacks a practice the
    profile's people will log in to; return quietly otherwise."""
    last = profile.practice_slug(profile.practices - 1)
    slugs = dict.fromkeys([profile.practice_slug(0), last])
    with httpx.Client(base_url=target, timeout=timeout) as client:
        for slug in slugs:
            response = _login(client, f"owner@{slug}.test", password)
            if response.status_code == 401:
                needed = profile.first_practice + profile.practices
                raise PreflightError(
                    f"the EHR at {target} has no practice {slug} (its owner cannot log in): "
                    f"the profile needs practices {profile.practice_slug(0)} .. {last}; seed "
                    f"them with `chartguard ehr seed --practices {needed} --db <the EHR's "
                    "database>`, or set CHARTGUARD_SEED_PASSWORD to the password they were "
                    "seeded with"
                )
            if response.status_code == 200:
                token = response.json().get("token")
                try:  # best effort: leave no session behind
                    client.post(
                        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
                    )
                except httpx.HTTPError:
                    pass
