"""Loopback-only guard: chaos never aims a fault or a probe outside this machine."""

from __future__ import annotations

from urllib.parse import urlsplit

from chaos.errors import UnsafeTargetError
from chartguard_common.loopback import is_loopback_host

__all__ = ["is_loopback_host", "require_loopback_address", "require_loopback_url"]


def _split_host_port(address: str) -> str:
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    host, _, _ = address.rpartition(":")
    return host or address


def require_loopback_address(address: str, *, what: str) -> None:
    """Raise :class:`UnsafeTargetError` unless ``host:port`` ``address`` is loopback."""
    host = _split_host_port(address)
    if not is_loopback_host(host):
        raise UnsafeTargetError(f"{what}: {address} is outside loopback (127.0.0.0/8, ::1)")


def require_loopback_url(url: str, *, what: str) -> None:
    """Raise :class:`UnsafeTargetError` unless ``url`` is http(s) to a loopback host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError(f"{what}: {url!r} is not an http(s) URL with a host")
    if not is_loopback_host(parts.hostname):
        raise UnsafeTargetError(f"{what}: {url} is outside loopback (127.0.0.0/8, ::1)")
