"""The one topology model both deployment targets render from.

A :class:`Topology` says which regions exist (name, role, loopback address, EHR
workers), which network links run through Toxiproxy between them, whether
replication is ``sync`` or ``async``, and where the global services listen. It is
built from stack configuration by :meth:`Topology.from_config` (called only by
``infra/__main__.py``), validated on construction, immutable, and turns back into
plain data with :meth:`Topology.to_dict` (JSON-ready) or :meth:`Topology.to_config`
(the config form, so ``from_config(t.to_config()) == t``).

Defaults follow ``docs/interfaces.md``: region *N* (1-based, in config order) listens
on ``127.0.N.1`` with the same ports in every region (EHR ``8000``, PostgreSQL
``5432``); Toxiproxy listens there for ``edge-<r>`` on ``18000`` (-> the region's
EHR), ``db-<r>`` on ``15432`` (-> its PostgreSQL) and, for standby regions only,
``repl-<r>`` on ``25432`` (-> the primary's PostgreSQL). Global services listen on
``127.0.0.1``: router ``8080`` (stats/exporter ``8405``), Toxiproxy API ``8474``,
Prometheus ``9090``, Alertmanager ``9093``, status service ``8090``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, cast

from infra.errors import TopologyError

__all__ = [
    "DEFAULT_CONFIG",
    "Endpoint",
    "GlobalServices",
    "Link",
    "LinkKind",
    "Ports",
    "Region",
    "ReplicationMode",
    "Role",
    "Target",
    "Topology",
]

Role = Literal["primary", "standby"]
ReplicationMode = Literal["sync", "async"]
Target = Literal["local", "aws"]
LinkKind = Literal["edge", "db", "repl"]

ROLES: tuple[Role, ...] = ("primary", "standby")
REPLICATION_MODES: tuple[ReplicationMode, ...] = ("sync", "async")
TARGETS: tuple[Target, ...] = ("local", "aws")
MAX_REGIONS = 3
MAX_WORKERS = 32
# Short lowercase names: they become HAProxy server names, Toxiproxy proxy names,
# PostgreSQL application names and AWS resource name parts.
_REGION_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: The configuration used when a stack sets nothing (``chartguard:*`` keys absent).
DEFAULT_CONFIG: dict[str, Any] = {
    "target": "local",
    "replication": "sync",
    "workers": 2,
    "regions": [
        {"name": "east", "role": "primary"},
        {"name": "west", "role": "standby"},
    ],
}


def _fail(path: str, problem: str) -> TopologyError:
    return TopologyError(f"{path}: {problem}", field=path)


def _check_port(path: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"must be an integer port, got {value!r}")
    if not 1 <= value <= 65535:
        raise _fail(path, f"must be between 1 and 65535, got {value}")
    return value


def _check_host(path: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be an IPv4 address string, got {value!r}")
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise _fail(path, f"must be an IPv4 address, got {value!r}") from None
    return str(address)


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """A TCP address: ``host:port``."""

    host: str
    port: int

    def __post_init__(self) -> None:
        _check_host("host", self.host)
        _check_port("port", self.port)

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def url(self, scheme: str = "http") -> str:
        """``scheme://host:port``."""
        return f"{scheme}://{self.address}"

    def is_loopback(self) -> bool:
        return ipaddress.IPv4Address(self.host).is_loopback


@dataclass(frozen=True, kw_only=True)
class Ports:
    """Ports used identically in every region (each region has its own address)."""

    ehr: int = 8000
    postgres: int = 5432
    edge: int = 18000
    db: int = 15432
    repl: int = 25432

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_port(f"ports.{f.name}", getattr(self, f.name))
        values = [getattr(self, f.name) for f in fields(self)]
        if len(set(values)) != len(values):
            raise _fail("ports", f"region ports must differ from each other, got {values}")

    def shifted(self, offset: int) -> Ports:
        """These ports plus ``offset`` each (a private copy of the stack beside another)."""
        return Ports(**{f.name: getattr(self, f.name) + offset for f in fields(self)})


@dataclass(frozen=True, kw_only=True)
class GlobalServices:
    """Where the services shared by every region listen."""

    router: Endpoint = field(default_factory=lambda: Endpoint(host="127.0.0.1", port=8080))
    router_stats: Endpoint = field(default_factory=lambda: Endpoint(host="127.0.0.1", port=8405))
    toxiproxy: Endpoint = field(default_factory=lambda: Endpoint(host="127.0.0.1", port=8474))
    prometheus: Endpoint = field(default_factory=lambda: Endpoint(host="127.0.0.1", port=9090))
    alertmanager: Endpoint = field(default_factory=lambda: Endpoint(host="127.0.0.1", port=9093))
    status: Endpoint = field(default_factory=lambda: Endpoint(host="127.0.0.1", port=8090))

    def items(self) -> list[tuple[str, Endpoint]]:
        """``(name, endpoint)`` for every service, in declaration order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def shifted(self, offset: int) -> GlobalServices:
        return GlobalServices(
            **{name: replace(ep, port=ep.port + offset) for name, ep in self.items()}
        )


@dataclass(frozen=True, kw_only=True)
class Region:
    """One region: its name, role, loopback address and EHR worker count."""

    name: str
    role: Role
    index: int
    """1-based position; the default address is ``127.0.<index>.1``."""
    address: str
    workers: int

    def __post_init__(self) -> None:
        path = f"regions[{self.index - 1}]"
        if not isinstance(self.name, str) or not _REGION_NAME.match(self.name):
            raise _fail(
                f"{path}.name",
                f"must be 1-16 lowercase letters/digits starting with a letter, got {self.name!r}",
            )
        if self.role not in ROLES:
            raise _fail(f"{path}.role", f"must be one of {list(ROLES)}, got {self.role!r}")
        _check_host(f"{path}.address", self.address)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int):
            raise _fail(f"{path}.workers", f"must be an integer, got {self.workers!r}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise _fail(
                f"{path}.workers", f"must be between 1 and {MAX_WORKERS}, got {self.workers}"
            )

    def endpoint(self, port: int) -> Endpoint:
        return Endpoint(host=self.address, port=port)


@dataclass(frozen=True, kw_only=True)
class Link:
    """A Toxiproxy proxy ``<kind>-<region>``: listens on ``listen``, forwards to ``upstream``."""

    kind: LinkKind
    region: str
    listen: Endpoint
    upstream: Endpoint

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.region}"


@dataclass(frozen=True, kw_only=True)
class Topology:
    """The whole deployment: regions, links, replication mode and global services."""

    stack: str = "local"
    target: Target = "local"
    replication: ReplicationMode = "sync"
    regions: tuple[Region, ...]
    ports: Ports = field(default_factory=Ports)
    services: GlobalServices = field(default_factory=GlobalServices)

    def __post_init__(self) -> None:
        if not isinstance(self.stack, str) or not _STACK_NAME.match(self.stack):
            raise _fail("stack", f"must be a Pulumi stack name, got {self.stack!r}")
        if self.target not in TARGETS:
            raise _fail("target", f"must be one of {list(TARGETS)}, got {self.target!r}")
        if self.replication not in REPLICATION_MODES:
            raise _fail(
                "replication",
                f"must be one of {list(REPLICATION_MODES)}, got {self.replication!r}",
            )
        if not 1 <= len(self.regions) <= MAX_REGIONS:
            raise _fail("regions", f"must list 1 to {MAX_REGIONS} regions, got {len(self.regions)}")
        names = [r.name for r in self.regions]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _fail(f"regions[{i}].name", f"duplicate region name {name!r}")
        primaries = [r.name for r in self.regions if r.role == "primary"]
        if len(primaries) != 1:
            raise _fail("regions", f"exactly one region must be primary, got {primaries or 'none'}")
        if self.target == "local":
            self._check_local_addresses()

    def _check_local_addresses(self) -> None:
        """Everything local listens on loopback, and no two listeners share an address."""
        seen: dict[tuple[str, int], str] = {}
        listeners: list[tuple[str, Endpoint]] = [
            (f"services.{name}", ep) for name, ep in self.services.items()
        ]
        for i, region in enumerate(self.regions):
            for port_name in ("ehr", "postgres", "edge", "db", "repl"):
                port = getattr(self.ports, port_name)
                listeners.append((f"regions[{i}] ({port_name})", region.endpoint(port)))
        for path, ep in listeners:
            if not ep.is_loopback():
                raise _fail(path, f"the local target only listens on 127.0.0.0/8, got {ep.host}")
            key = (ep.host, ep.port)
            if key in seen:
                raise _fail(path, f"{ep.address} is already used by {seen[key]}")
            seen[key] = path

    # -- derived views -------------------------------------------------------------

    @property
    def primary(self) -> Region:
        return next(r for r in self.regions if r.role == "primary")

    @property
    def standbys(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.role == "standby")

    def region(self, name: str) -> Region:
        """The region called ``name``; :class:`TopologyError` if there is none."""
        for r in self.regions:
            if r.name == name:
                return r
        raise TopologyError(f"no region named {name!r}", field="regions")

    @property
    def links(self) -> tuple[Link, ...]:
        """Every Toxiproxy link: ``edge-`` and ``db-`` per region, ``repl-`` per standby."""
        p = self.ports
        out: list[Link] = []
        for r in self.regions:
            out.append(
                Link(kind="edge", region=r.name, listen=r.endpoint(p.edge),
                     upstream=r.endpoint(p.ehr))
            )
            out.append(
                Link(kind="db", region=r.name, listen=r.endpoint(p.db),
                     upstream=r.endpoint(p.postgres))
            )
        for r in self.standbys:
            out.append(
                Link(kind="repl", region=r.name, listen=r.endpoint(p.repl),
                     upstream=self.primary.endpoint(p.postgres))
            )
        return tuple(out)

    def link(self, name: str) -> Link:
        """The link called ``name`` (e.g. ``"db-east"``); :class:`TopologyError` if none."""
        for link in self.links:
            if link.name == name:
                return link
        raise TopologyError(f"no link named {name!r}", field="links")

    def ehr_url(self, region: str) -> str:
        """The region's EHR as the router reaches it: through its ``edge-`` link."""
        return self.link(f"edge-{region}").listen.url()

    def with_roles(self, roles: Mapping[str, str]) -> Topology:
        """The same topology with ``roles`` (region -> role) applied; unnamed regions keep
        theirs. Validated like any topology (exactly one primary; :class:`TopologyError`).

        The derived links follow: ``repl-`` links exist for the new standbys and point
        at the new primary, which is what a runbook must leave behind after a cutover.
        """
        unknown = sorted(set(roles) - {r.name for r in self.regions})
        if unknown:
            raise TopologyError(f"no region named {unknown[0]!r}", field="regions")
        regions = tuple(replace(r, role=cast(Role, roles.get(r.name, r.role)))
                        for r in self.regions)
        return replace(self, regions=regions)

    def with_port_offset(self, offset: int) -> Topology:
        """The same topology with every port moved by ``offset`` (a private copy)."""
        if offset == 0:
            return self
        return replace(self, ports=self.ports.shifted(offset),
                       services=self.services.shifted(offset))

    # -- plain data ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description including the derived links (no secrets)."""
        return {
            "stack": self.stack,
            "target": self.target,
            "replication": self.replication,
            "regions": [
                {"name": r.name, "role": r.role, "index": r.index, "address": r.address,
                 "workers": r.workers}
                for r in self.regions
            ],
            "ports": {f.name: getattr(self.ports, f.name) for f in fields(self.ports)},
            "services": {name: ep.address for name, ep in self.services.items()},
            "links": [
                {"name": link.name, "kind": link.kind, "region": link.region,
                 "listen": link.listen.address, "upstream": link.upstream.address}
                for link in self.links
            ],
        }

    def to_config(self) -> dict[str, Any]:
        """The config form: ``Topology.from_config(t.to_config(), stack=t.stack) == t``."""
        data = self.to_dict()
        del data["links"], data["stack"]
        return data

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, stack: str = "local") -> Topology:
        """Build and validate a topology from stack configuration.

        ``config`` holds the ``chartguard:*`` keys without their namespace; absent keys
        take :data:`DEFAULT_CONFIG`'s values. Keys: ``target``, ``replication``,
        ``workers`` (default per region), ``regions`` (list of ``{name, role,
        workers?, address?}``), ``ports`` and ``services`` (partial overrides; a
        service is ``"host:port"``). Unknown keys are refused so typos do not pass
        silently. Raises :class:`TopologyError` naming the offending field.
        """
        if not isinstance(config, Mapping):
            raise _fail("config", f"must be a mapping, got {type(config).__name__}")
        known = {"target", "replication", "workers", "regions", "ports", "services"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise _fail(unknown[0], f"unknown key (known: {sorted(known)})")
        merged = {**DEFAULT_CONFIG, **{k: v for k, v in config.items() if v is not None}}
        workers = merged["workers"]
        raw_regions = merged["regions"]
        if not isinstance(raw_regions, list):
            raise _fail("regions", f"must be a list, got {type(raw_regions).__name__}")
        regions = tuple(
            _region_from(i, item, default_workers=workers) for i, item in enumerate(raw_regions)
        )
        return cls(
            stack=stack,
            target=cast(Target, merged["target"]),
            replication=cast(ReplicationMode, merged["replication"]),
            regions=regions,
            ports=_ports_from(merged.get("ports") or {}),
            services=_services_from(merged.get("services") or {}),
        )


def _region_from(i: int, item: object, *, default_workers: object) -> Region:
    path = f"regions[{i}]"
    if isinstance(item, str):
        item = {"name": item, "role": "primary" if i == 0 else "standby"}
    if not isinstance(item, Mapping):
        raise _fail(path, f"must be a mapping or a name, got {item!r}")
    unknown = sorted(set(item) - {"name", "role", "workers", "address", "index"})
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", "unknown key")
    if "name" not in item:
        raise _fail(f"{path}.name", "is required")
    index = i + 1
    if item.get("index", index) != index:
        raise _fail(f"{path}.index", f"must be {index} (its position), got {item['index']!r}")
    return Region(
        name=item["name"],
        role=item.get("role", "standby"),
        index=index,
        address=item.get("address", f"127.0.{index}.1"),
        workers=item.get("workers", default_workers),
    )


def _ports_from(raw: object) -> Ports:
    if not isinstance(raw, Mapping):
        raise _fail("ports", f"must be a mapping, got {raw!r}")
    known = {f.name for f in fields(Ports)}
    for key in raw:
        if key not in known:
            raise _fail(f"ports.{key}", f"unknown port (known: {sorted(known)})")
    return Ports(**dict(raw))


def _services_from(raw: object) -> GlobalServices:
    if not isinstance(raw, Mapping):
        raise _fail("services", f"must be a mapping, got {raw!r}")
    known = {f.name for f in fields(GlobalServices)}
    parsed: dict[str, Endpoint] = {}
    for key, value in raw.items():
        path = f"services.{key}"
        if key not in known:
            raise _fail(path, f"unknown service (known: {sorted(known)})")
        if not isinstance(value, str) or value.count(":") != 1:
            raise _fail(path, f"must be 'host:port', got {value!r}")
        host, _, port = value.partition(":")
        if not port.isdigit():
            raise _fail(path, f"port must be a number, got {port!r}")
        parsed[key] = Endpoint(host=_check_host(path, host), port=_check_port(path, int(port)))
    return GlobalServices(**parsed)
