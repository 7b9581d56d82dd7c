"""Roles a runbook established, as the stack's desired state: ``<stack dir>/roles.json``.

A migration or failover (``chartguard migrate|failover|rollback``) moves the primary role
on the running stack. Its "record roles" step writes :func:`write_roles`; the Pulumi
program (``infra/__main__.py``) then applies the file over the stack config's
``chartguard:regions`` roles with :func:`apply_roles`, so ``up``, ``preview`` and
``refresh`` agree with what runs instead of undoing the move. Only roles come from the
file: names, addresses and workers stay the stack config's. ``chartguard down`` removes
the file with the rest of the stack's state.

The document::

    {"kind": "chartguard.roles", "stack": "local",
     "roles": {"east": "standby", "west": "primary"},
     "set_by": "migrate", "set_at": "2026-11-22T03:10:00Z", "set_at_epoch": 1795316400.0}

It must name exactly one primary, and only regions the stack config has (a region it
does not name is a standby). Anything else is a :class:`~infra.errors.TopologyError`
naming the file, raised before anything is declared, so nothing changes.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from infra.errors import TopologyError
from infra.topology import DEFAULT_CONFIG, ROLES, Role

__all__ = [
    "KIND",
    "ROLES_FILE",
    "RoleAssignment",
    "apply_roles",
    "config_roles",
    "read_roles",
    "roles_note",
    "roles_path",
    "stack_config_roles",
    "write_roles",
]

KIND = "chartguard.roles"
ROLES_FILE = "roles.json"


@dataclass(frozen=True, kw_only=True)
class RoleAssignment:
    """Who is primary according to a runbook, who said so and when."""

    path: Path
    stack: str
    roles: dict[str, Role]
    set_by: str
    set_at: str
    """ISO 8601, UTC (``...Z``)."""

    @property
    def primary(self) -> str:
        return next(name for name, role in self.roles.items() if role == "primary")

    def to_dict(self, *, epoch: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": KIND, "stack": self.stack, "roles": dict(self.roles),
                                "set_by": self.set_by, "set_at": self.set_at}
        if epoch is not None:
            data["set_at_epoch"] = epoch
        return data


def roles_path(stack_dir: Path) -> Path:
    """``<stack dir>/roles.json``."""
    return Path(stack_dir) / ROLES_FILE


def _fail(path: Path, problem: str) -> TopologyError:
    return TopologyError(f"{path}: {problem}; nothing changed (fix or delete the file)",
                         field="roles")


def _check_roles(path: Path, roles: object) -> dict[str, Role]:
    if not isinstance(roles, Mapping) or not roles:
        raise _fail(path, "'roles' must map region names to 'primary' or 'standby'")
    checked: dict[str, Role] = {}
    for name, role in roles.items():
        if not isinstance(name, str) or role not in ROLES:
            raise _fail(path, f"region {name!r}: role must be one of {list(ROLES)}, "
                              f"got {role!r}")
        checked[name] = cast(Role, role)
    primaries = sorted(n for n, r in checked.items() if r == "primary")
    if len(primaries) != 1:
        raise _fail(path, f"exactly one region must be primary, got {primaries or 'none'}")
    return checked


def read_roles(path: Path, *, stack: str | None = None) -> RoleAssignment | None:
    """The roles document at ``path``; None when there is none.

    A document that is not valid JSON, is not a roles document, belongs to another
    stack (when ``stack`` is given) or does not name exactly one primary raises
    :class:`TopologyError` naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _fail(path, f"cannot read it: {e.strerror or e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise _fail(path, f"not valid JSON ({e})") from e
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise _fail(path, f"not a roles document (needs \"kind\": \"{KIND}\")")
    if stack is not None and data.get("stack") != stack:
        raise _fail(path, f"written for stack {data.get('stack')!r}, not {stack!r}")
    return RoleAssignment(
        path=path, stack=str(data.get("stack")), roles=_check_roles(path, data.get("roles")),
        set_by=str(data.get("set_by") or "unknown"), set_at=str(data.get("set_at") or "?"),
    )


def write_roles(path: Path, roles: Mapping[str, str], *, stack: str, set_by: str,
                at: float | None = None) -> RoleAssignment:
    """Validate ``roles`` and write them to ``path`` atomically (readers never see half)."""
    path = Path(path)
    assignment = RoleAssignment(
        path=path, stack=stack, roles=_check_roles(path, roles), set_by=set_by,
        set_at=datetime.fromtimestamp(at if at is not None else time.time(), UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".roles-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(assignment.to_dict(epoch=at if at is not None else time.time()), f,
                      indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return assignment


def _config_regions(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The config's regions as mappings (a bare name is ``{name}``, as in the topology)."""
    raw = config.get("regions")
    if raw is None:
        raw = DEFAULT_CONFIG["regions"]
    if not isinstance(raw, list):
        raise TopologyError(f"regions: must be a list, got {type(raw).__name__}",
                            field="regions")
    regions = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            item = {"name": item, "role": "primary" if i == 0 else "standby"}
        if not isinstance(item, Mapping):
            raise TopologyError(f"regions[{i}]: must be a mapping or a name, got {item!r}",
                                field=f"regions[{i}]")
        regions.append(dict(item))
    return regions


def config_roles(config: Mapping[str, Any]) -> dict[str, str]:
    """Region -> role as the stack config says (before any roles document)."""
    return {str(r.get("name")): str(r.get("role", "standby")) for r in _config_regions(config)}


def apply_roles(config: Mapping[str, Any], assignment: RoleAssignment | None) -> dict[str, Any]:
    """``config`` (the ``chartguard:*`` keys) with the roles of ``assignment`` applied.

    Only roles change; a region the document does not name becomes a standby. A region
    the document names but the config does not have raises :class:`TopologyError`
    naming the file.
    """
    if assignment is None:
        return dict(config)
    regions = _config_regions(config)
    names = [str(r.get("name")) for r in regions]
    unknown = sorted(set(assignment.roles) - set(names))
    if unknown:
        raise _fail(assignment.path, f"region {unknown[0]!r} is not in the stack config "
                                     f"(regions: {names})")
    for region in regions:
        region["role"] = assignment.roles.get(str(region.get("name")), "standby")
    return {**config, "regions": regions}


def stack_config_roles(project_dir: Path, stack: str) -> dict[str, str]:
    """Region -> role from the stack file ``Pulumi.<stack>.yaml`` (its defaults if absent).

    For messages only (``chartguard status``): the Pulumi program reads the config
    through the engine.
    """
    import yaml

    try:
        data = yaml.safe_load((Path(project_dir) / f"Pulumi.{stack}.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    config = data.get("config") if isinstance(data, dict) else None
    regions = config.get("chartguard:regions") if isinstance(config, dict) else None
    return config_roles({"regions": regions} if isinstance(regions, list) else {})


def _primary_of(roles: Mapping[str, str]) -> str:
    return next((n for n, r in roles.items() if r == "primary"), "none")


def roles_note(assignment: RoleAssignment, config: Mapping[str, str]) -> str:
    """One line for the console: who set the roles, when, and what the config says."""
    said = (f"roles set by {assignment.set_by} at {assignment.set_at} "
            f"({assignment.primary} primary, {assignment.path})")
    if _primary_of(config) == assignment.primary:
        return f"{said}; the stack config agrees"
    return f"{said}; stack config says {_primary_of(config)} primary"
