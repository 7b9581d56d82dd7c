"""Scenario link names (``edge-east``, ``repl-*``) to the proxy names on a Toxiproxy server.

Scenarios use the local stack's link names (docs/interfaces.md). Against any other server,
``--links edge-east=shop_edge_1,db-east=pg_main`` maps link names to proxy names; a proxy
without a mapping keeps its own name as its link name. Globs match link names.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field

from chaos.errors import ChaosError

__all__ = ["LinkMap"]


@dataclass(frozen=True, slots=True)
class LinkMap:
    """``link name -> proxy name``; empty means every proxy is its own link."""

    mapping: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> LinkMap:
        """Parse ``LINK=PROXY`` entries (each may hold several, comma-separated)."""
        mapping: dict[str, str] = {}
        for entry in entries:
            for item in filter(None, (part.strip() for part in entry.split(","))):
                link, sep, proxy = item.partition("=")
                if not sep or not link.strip() or not proxy.strip():
                    raise ChaosError(f"--links: {item!r} must look like LINK=PROXY")
                if link.strip() in mapping:
                    raise ChaosError(f"--links: link {link.strip()!r} is mapped twice")
                mapping[link.strip()] = proxy.strip()
        return cls(mapping)

    def link_name(self, proxy: str) -> str | None:
        """The link name of ``proxy``; None when a mapping gave its name to another proxy."""
        for link, target in self.mapping.items():
            if target == proxy:
                return link
        return None if proxy in self.mapping else proxy

    def resolve(self, pattern: str, proxies: Iterable[str]) -> list[str]:
        """The proxies whose link name matches ``pattern`` (a name or an fnmatch glob)."""
        return sorted(
            p
            for p in proxies
            if (name := self.link_name(p)) is not None and fnmatch.fnmatchcase(name, pattern)
        )
