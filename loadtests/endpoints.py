"""Endpoint names and classes: requests are named by method and path template.

Names look like ``"GET /api/v1/patients/{id}"`` (ids replaced by ``{id}`` so stats group by
endpoint, and no identifier or PHI ever becomes a name or a metric label).
"""

from __future__ import annotations

from loadtests.profile import EndpointClass

__all__ = ["classify", "endpoint_name", "split_name"]

_REPORT_MARKERS = ("/$export", "/audit")


def endpoint_name(method: str, template: str) -> str:
    """The stats name of a request: ``"<METHOD> <path template>"``."""
    return f"{method.upper()} {template}"


def split_name(name: str) -> tuple[str, str]:
    """``"GET /x"`` -> ``("GET", "/x")``; a name without a method gets ``""``."""
    method, _, path = name.partition(" ")
    return (method, path) if path else ("", name)


def classify(name: str) -> EndpointClass:
    """The class an endpoint is judged by: auth, report (exports, audit), write or read."""
    method, path = split_name(name)
    if path.startswith("/api/v1/auth/"):
        return EndpointClass.auth
    if any(marker in path for marker in _REPORT_MARKERS):
        return EndpointClass.report
    if method in {"POST", "PUT", "PATCH", "DELETE"}:
        return EndpointClass.write
    return EndpointClass.read
