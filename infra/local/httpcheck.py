"""Tiny HTTP helpers shared by the managers of servers with HTTP admin endpoints."""

from __future__ import annotations

import httpx

from infra.local.errors import CommandError
from infra.local.process import ProcessHandle, is_running

__all__ = ["http_ok", "http_post", "serving"]


def http_ok(url: str, *, timeout: float = 1.0) -> bool:
    """True if ``GET url`` answers 2xx within ``timeout``."""
    try:
        return httpx.get(url, timeout=timeout).is_success
    except httpx.HTTPError:
        return False


def http_post(url: str, *, what: str, timeout: float = 10.0) -> None:
    """``POST url`` (an admin action such as ``/-/reload``); raise on any failure."""
    try:
        response = httpx.post(url, timeout=timeout)
    except httpx.HTTPError as e:
        raise CommandError(f"{what}: POST {url}: {e}") from e
    if response.is_error:
        raise CommandError(f"{what}: POST {url}: HTTP {response.status_code} {response.text}")


def serving(handle: ProcessHandle, url: str, *, timeout: float = 1.0) -> bool:
    """True if the process of ``handle`` runs and ``GET url`` (its health check) answers 2xx."""
    return is_running(handle) and http_ok(url, timeout=timeout)
