"""The one adapter between chartguard and Toxiproxy, over the ``toxiproxy-python`` client.

The client keeps the API host and port in class attributes of ``APIConsumer``: process-global
state. This module is the only place that touches it, and every call sets it under one lock,
so adapters for different servers can live in one process (tests do). What the client lacks
is added here: timeouts on every request, toxicity and every toxic type, listing proxies with
their toxics, removing all toxics, enabling all proxies, the server version, populate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from chaos.errors import ToxiproxyError
from chaos.safety import require_loopback_url
from chaos.toxics import ServerToxic

__all__ = ["ProxyState", "ToxicState", "ToxiproxyAdapter"]


def _seg(name: str) -> str:
    """A proxy or toxic name as one URL path segment (server-side names may hold anything)."""
    return quote(name, safe="")


# Guards APIConsumer.host/port (class attributes of the client) for the length of a call.
_API_LOCK = threading.RLock()


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
    def from_json(cls, data: dict[str, Any]) -> ProxyState:
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


def _unreachable(url: str, error: requests.RequestException) -> str:
    """One sentence for a Toxiproxy API that did not answer (not urllib3's repr)."""
    if isinstance(error, requests.Timeout):
        why = "no answer in time"
    elif isinstance(error, requests.ConnectionError):
        why = "connection refused or failed"
    else:
        why = type(error).__name__
    return (
        f"cannot reach toxiproxy at {url} ({why}): is toxiproxy-server running there? "
        "(`chartguard up` starts it on the local stack; --toxiproxy names another)"
    )


class ToxiproxyAdapter:
    """A Toxiproxy server at ``url`` (``http://127.0.0.1:8474``); only loopback is accepted.

    Every method raises :class:`chaos.errors.ToxiproxyError` when the server cannot be reached
    or refuses the request; removal and enabling are idempotent.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ToxiproxyError(f"toxiproxy URL {url!r} must look like http://HOST:PORT")
        require_loopback_url(f"http://{parts.netloc}", what="toxiproxy API")
        self.url = f"http://{parts.netloc}"
        host = parts.hostname
        self._host = f"[{host}]" if ":" in host else host
        self._port = parts.port or 8474
        self._timeout = timeout_s

    def __repr__(self) -> str:
        return f"ToxiproxyAdapter({self.url!r})"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        verb = {"GET": APIConsumer.get, "POST": APIConsumer.post, "DELETE": APIConsumer.delete}
        with _API_LOCK:
            APIConsumer.host = self._host
            APIConsumer.port = self._port
            try:
                if body is None:
                    response = verb[method](path, timeout=self._timeout)
                else:
                    response = APIConsumer.post(path, json=body, timeout=self._timeout)
            except (NotFound, ProxyExists, InvalidToxic):
                raise
            except requests.RequestException as e:
                raise ToxiproxyError(_unreachable(self.url, e)) from e
        if response.status_code >= 400:
            raise ToxiproxyError(
                f"toxiproxy {method} {path} answered {response.status_code}: "
                f"{response.text.strip()[:200]}"
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    @staticmethod
    def _detail(e: Exception) -> str:
        arg = e.args[0] if e.args else b""
        text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
        return text.strip()[:200]

    def version(self) -> str:
        """The server's version string (``2.12.0``)."""
        data = self._call("GET", "/version")
        if isinstance(data, dict):
            return str(data.get("version", ""))
        return str(data).strip().strip('"')

    def proxies(self) -> dict[str, ProxyState]:
        """Every proxy on the server with its toxics, by name."""
        data = self._call("GET", "/proxies") or {}
        return {name: ProxyState.from_json(values) for name, values in data.items()}

    def proxy(self, name: str) -> ProxyState:
        try:
            return ProxyState.from_json(self._call("GET", f"/proxies/{_seg(name)}"))
        except NotFound as e:
            raise ToxiproxyError(f"toxiproxy has no proxy {name!r}") from e

    def add_toxic(self, proxy: str, toxic: ServerToxic) -> None:
        """Add ``toxic`` to ``proxy``; an existing toxic of that name is an error."""
        try:
            self._call("POST", f"/proxies/{_seg(proxy)}/toxics", toxic.as_json())
        except NotFound as e:
            raise ToxiproxyError(f"toxiproxy has no proxy {proxy!r}") from e
        except ProxyExists as e:
            raise ToxiproxyError(
                f"proxy {proxy!r} already has a toxic {toxic.name!r} "
                "(left by an earlier run? `chartguard chaos rollback`)"
            ) from e
        except InvalidToxic as e:
            raise ToxiproxyError(
                f"toxiproxy refused toxic {toxic.name!r} on {proxy!r}: {self._detail(e)}"
            ) from e

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove toxic ``name`` from ``proxy``; False when it (or the proxy) was not there."""
        try:
            self._call("DELETE", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}")
        except NotFound:
            return False
        return True

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Enable or disable ``proxy`` (disabling drops its connections and stops listening)."""
        try:
            self._call("POST", f"/proxies/{_seg(proxy)}", {"enabled": enabled})
        except NotFound as e:
            raise ToxiproxyError(f"toxiproxy has no proxy {proxy!r}") from e

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

    def enable_all(self) -> int:
        """Enable every disabled proxy; returns how many were disabled."""
        disabled = [p.name for p in self.proxies().values() if not p.enabled]
        for name in disabled:
            self.set_enabled(name, True)
        return len(disabled)

    def reset(self) -> None:
        """Toxiproxy's own reset: every proxy enabled, every toxic removed."""
        self._call("POST", "/reset", {})

    def create_proxy(self, *, name: str, listen: str, upstream: str) -> ProxyState:
        try:
            data = self._call(
                "POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream}
            )
        except ProxyExists as e:
            raise ToxiproxyError(f"toxiproxy already has a proxy {name!r}") from e
        return ProxyState.from_json(data)

    def delete_proxy(self, name: str) -> bool:
        try:
            self._call("DELETE", f"/proxies/{_seg(name)}")
        except NotFound:
            return False
        return True

    def populate(self, proxies: list[dict[str, Any]]) -> list[ProxyState]:
        """Create or replace proxies in one request (Toxiproxy's ``/populate``)."""
        # The client's populate() creates proxies one by one; the server does it atomically.
        try:
            response = requests.post(f"{self.url}/populate", json=proxies, timeout=self._timeout)
        except requests.RequestException as e:
            raise ToxiproxyError(_unreachable(self.url, e)) from e
        if response.status_code >= 400:
            raise ToxiproxyError(
                f"toxiproxy refused populate ({response.status_code}): {response.text[:200]}"
            )
        data = response.json()
        return [ProxyState.from_json(p) for p in data.get("proxies", [])]
