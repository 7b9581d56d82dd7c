"""chaos's Toxiproxy client: :class:`chartguard_common.toxiproxy.ToxiproxyClient` raising
:class:`chaos.errors.ToxiproxyError`, and refusing a non-loopback server with
:class:`chaos.errors.UnsafeTargetError` like every other chaos target."""

from __future__ import annotations

from urllib.parse import urlsplit

from chaos.errors import ToxiproxyError
from chaos.safety import require_loopback_url
from chartguard_common.toxiproxy import ProxyState, ToxicState, ToxiproxyClient

__all__ = ["ProxyState", "ToxicState", "ToxiproxyAdapter"]


class ToxiproxyAdapter(ToxiproxyClient):
    """A Toxiproxy server at ``url``; every failure is a :class:`ToxiproxyError`."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme == "http" and parts.hostname:
            require_loopback_url(f"http://{parts.netloc}", what="toxiproxy API")
        super().__init__(url, timeout_s=timeout_s, error=ToxiproxyError)
