"""A small synchronous client for the status service (used by runbooks, e.g. migrations)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from monitoring.status.errors import Conflict, InvalidInput, NotFound, StatusError


class StatusClient:
    """Call the status service's authenticated API; raises the package's exceptions."""

    def __init__(self, base_url: str, *, token: str, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"},
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StatusClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            r = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            if isinstance(e, httpx.UnsupportedProtocol):
                why = "not an http(s) URL"
            elif isinstance(e, httpx.ConnectError):
                why = "connection refused or failed"
            elif isinstance(e, httpx.TimeoutException):
                why = "no answer in time"
            else:
                why = type(e).__name__
            raise StatusError(f"status service unreachable at {self._http.base_url} ({why}): is "
                              "`chartguard statuspage serve` running there? (--url or "
                              "CHARTGUARD_STATUS_URL)") from e
        if r.status_code < 400:
            return r.json() if r.content else None
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        error = {404: NotFound, 409: Conflict, 422: InvalidInput}.get(r.status_code, StatusError)
        raise error(f"{method} {path} -> {r.status_code}: {detail}")

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/v1/summary")
        return result

    def start_maintenance(
        self, *, message: str, components: list[str], title: str = "Scheduled maintenance",
        starts_at: datetime | None = None, ends_at: datetime | None = None,
        duration: timedelta = timedelta(minutes=30),
    ) -> dict[str, Any]:
        """Announce a maintenance window (starting now by default); returns it with its id."""
        start = starts_at or datetime.now().astimezone()
        body = {"title": title, "message": message, "components": components,
                "starts_at": start.isoformat(),
                "ends_at": (ends_at or start + duration).isoformat()}
        result: dict[str, Any] = self._call("POST", "/api/v1/maintenance", json=body)
        return result

    def complete_maintenance(self, window_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/api/v1/maintenance/{window_id}/complete")
        return result

    def post_update(self, incident_id: int, *, status: str, message: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/incidents/{incident_id}/updates",
            json={"status": status, "message": message})
        return result
