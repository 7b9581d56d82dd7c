"""The one Toxiproxy client: a typed wrapper of its HTTP API on ``httpx``, with timeouts.

``infra`` creates and repoints the stack's links with it, ``chaos`` adds and removes
faults with it. Each passes the exception type it raises (``error=``), so a caller sees
its own package's errors; messages say what failed and how to fix it. Only loopback
servers are accepted. Removing and deleting are idempotent (False when already gone).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from chartguard_common.loopback import is_loopback_host

__all__ = ["ProxyState", "ToxicState", "ToxiproxyApiError", "ToxiproxyClient"]


class ToxiproxyApiError(Exception):
    """The Toxiproxy API could not be reached or refused a request (the default error)."""


class _AsJson(Protocol):
    def as_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ToxicState:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProxyState:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicState, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxyState:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(
                ToxicState(
                    name=str(t["name"]),
                    type=str(t["type"]),
                    stream=str(t.get("stream", "downstream")),
                    toxicity=float(t.get("toxicity", 1.0)),
                    attributes=dict(t.get("attributes") or {}),
                )
                for t in data.get("toxics") or []
            ),
        )


def _seg(name: str) -> str:
    """A proxy or toxic name as one URL path segment (server-side names may hold anything)."""
    return quote(name, safe="")


class ToxiproxyClient:
    """A Toxiproxy server at ``url`` (``http://127.0.0.1:8474``); raises ``error``."""

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, error: type[Exception] = ToxiproxyApiError
    ) -> None:
        self._error = error
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise error(f"toxiproxy URL {url!r} must look like http://HOST:PORT")
        if not is_loopback_host(parts.hostname):
            raise error(f"toxiproxy API: {url} is outside loopback (127.0.0.0/8, ::1)")
        self.url = f"http://{parts.netloc}"
        self._timeout = timeout_s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- transport -------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            return httpx.request(
                method, f"{self.url}{path}", json=body, timeout=self._timeout
            )
        except httpx.HTTPError as e:
            why = "no answer in time" if isinstance(e, httpx.TimeoutException) else (
                "connection refused or failed" if isinstance(e, httpx.TransportError)
                else type(e).__name__
            )
            raise self._error(
                f"cannot reach toxiproxy at {self.url} ({why}): is toxiproxy-server running "
                "there? (`chartguard up` starts it on the local stack)"
            ) from e

    def _fail(self, response: httpx.Response, what: str) -> Exception:
        return self._error(
            f"toxiproxy refused to {what} (HTTP {response.status_code}): "
            f"{response.text.strip()[:200]}"
        )

    def _json(self, method: str, path: str, what: str, body: Any = None) -> Any:
        response = self._request(method, path, body)
        if response.is_error:
            raise self._fail(response, what)
        return response.json() if response.content else None

    # -- proxies ---------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version string (``v2.12.0``)."""
        response = self._request("GET", "/version")
        if response.is_error:
            raise self._fail(response, "tell its version")
        try:
            data = response.json()
        except ValueError:
            return response.text.strip().strip('"')
        return str(data.get("version", "")) if isinstance(data, dict) else str(data)

    def proxies(self) -> dict[str, ProxyState]:
        """Every proxy on the server with its toxics, by name."""
        data = self._json("GET", "/proxies", "list proxies") or {}
        return {name: ProxyState.from_json(values) for name, values in data.items()}

    def proxy(self, name: str) -> ProxyState | None:
        """The proxy, or None when there is none of that name."""
        response = self._request("GET", f"/proxies/{_seg(name)}")
        if response.status_code == 404:
            return None
        if response.is_error:
            raise self._fail(response, f"read proxy {name!r}")
        return ProxyState.from_json(response.json())

    def create_proxy(
        self, *, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> ProxyState:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        response = self._request("POST", "/proxies", body)
        if response.status_code == 409:
            raise self._error(f"toxiproxy already has a proxy {name!r}")
        if response.is_error:
            raise self._fail(response, f"create proxy {name!r}")
        return ProxyState.from_json(response.json())

    def update_proxy(
        self, *, name: str, listen: str, upstream: str, enabled: bool = True
    ) -> ProxyState:
        """Point an existing proxy at ``listen``/``upstream`` (and enable or disable it)."""
        body = {"listen": listen, "upstream": upstream, "enabled": enabled}
        return ProxyState.from_json(self._existing("POST", name, f"update proxy {name!r}", body))

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable ``name`` (disabling drops its connections and stops listening)."""
        verb = "enable" if enabled else "disable"
        self._existing("POST", name, f"{verb} proxy {name!r}", {"enabled": enabled})

    def _existing(self, method: str, name: str, what: str, body: Any) -> Any:
        response = self._request(method, f"/proxies/{_seg(name)}", body)
        if response.status_code == 404:
            raise self._error(f"toxiproxy has no proxy {name!r}")
        if response.is_error:
            raise self._fail(response, what)
        return response.json()

    def delete_proxy(self, name: str) -> bool:
        """Delete ``name``; False when it was already gone."""
        response = self._request("DELETE", f"/proxies/{_seg(name)}")
        if response.status_code == 404:
            return False
        if response.is_error:
            raise self._fail(response, f"delete proxy {name!r}")
        return True

    def enable_all(self) -> int:
        """Enable every disabled proxy; returns how many were disabled."""
        disabled = [p.name for p in self.proxies().values() if not p.enabled]
        for name in disabled:
            self.set_enabled(name, True)
        return len(disabled)

    def reset(self) -> None:
        """Toxiproxy's own reset: every proxy enabled, every toxic removed."""
        self._json("POST", "/reset", "reset", {})

    def populate(self, proxies: list[dict[str, Any]]) -> list[ProxyState]:
        """Create or replace proxies in one request (atomic on the server)."""
        data = self._json("POST", "/populate", "populate proxies", proxies) or {}
        return [ProxyState.from_json(p) for p in data.get("proxies", [])]

    # -- toxics ----------------------------------------------------------------------------

    def add_toxic(self, proxy: str, toxic: _AsJson | Mapping[str, Any]) -> None:
        """Add ``toxic`` (its JSON, or an object with ``as_json()``) to ``proxy``; a toxic
        of the same name already there is an error."""
        body = dict(toxic) if isinstance(toxic, Mapping) else toxic.as_json()
        name = body.get("name")
        response = self._request("POST", f"/proxies/{_seg(proxy)}/toxics", body)
        if response.status_code == 404:
            raise self._error(f"toxiproxy has no proxy {proxy!r}")
        if response.status_code == 409:
            raise self._error(
                f"proxy {proxy!r} already has a toxic {name!r} "
                "(left by an earlier run? `chartguard chaos rollback`)"
            )
        if response.is_error:
            raise self._error(
                f"toxiproxy refused toxic {name!r} on {proxy!r}: {response.text.strip()[:200]}"
            )

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove toxic ``name`` from ``proxy``; False when it (or the proxy) was not there."""
        response = self._request("DELETE", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}")
        if response.status_code == 404:
            return False
        if response.is_error:
            raise self._fail(response, f"remove toxic {name!r} from {proxy!r}")
        return True

    def remove_all_toxics(self, names: Iterable[str] | None = None) -> int:
        """Remove every toxic from every proxy (or from the proxies in ``names``)."""
        wanted = set(names) if names is not None else None
        removed = 0
        for proxy in self.proxies().values():
            if wanted is not None and proxy.name not in wanted:
                continue
            for toxic in proxy.toxics:
                removed += self.remove_toxic(proxy.name, toxic.name)
        return removed
