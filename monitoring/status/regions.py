"""Which regions to probe: ``--region name=url`` options or infra's ``deployment.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitoring.status.errors import ConfigError
from monitoring.status.models import check_region


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One URL whose ``/readyz`` tells us about ``component`` of ``region``."""

    region: str
    component: str
    url: str


def parse_region_option(value: str) -> tuple[str, str]:
    """``"east=http://127.0.1.1:8000"`` -> ``("east", "http://127.0.1.1:8000")``."""
    name, sep, url = value.partition("=")
    name, url = name.strip(), url.strip().rstrip("/")
    if not sep or not url.startswith(("http://", "https://")):
        raise ConfigError(f"region option {value!r} must look like east=http://127.0.1.1:8000")
    try:
        check_region(name)
    except (ValueError, ValidationError) as e:
        raise ConfigError(str(e)) from e
    return name, url


def targets_from_mapping(regions: dict[str, str]) -> list[ProbeTarget]:
    return [ProbeTarget(r, "app", url.rstrip("/") + "/readyz") for r, url in regions.items()]


def _listen_url(listen: Any) -> str | None:
    if isinstance(listen, str) and listen:
        return listen if listen.startswith("http") else f"http://{listen}"
    return None


def targets_from_deployment(path: Path) -> list[ProbeTarget]:
    """Targets from ``deployment.json``: each region's EHR, and its ``edge-<r>`` link if any.

    infra's ``ehr_url`` is the edge link (how the router reaches the region), so when the
    link is listed the app is probed directly at the link's upstream and the edge through
    the link: a dark link then shows as an edge outage, not as a dead application.
    A missing file means "nothing deployed yet" (empty list); a malformed one is an error.
    """
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text())
        regions = doc.get("regions", [])
        links = doc.get("links", [])
        if isinstance(regions, dict):  # tolerate {name: {...}} as well as [{name: ...}]
            regions = [{"name": k, **v} for k, v in regions.items()]
        targets: list[ProbeTarget] = []
        link_by_name = {ln.get("name"): ln for ln in links if isinstance(ln, dict)}
        for region in regions:
            name = check_region(str(region["name"]))
            link = link_by_name.get(f"edge-{name}", {})
            edge, direct = _listen_url(link.get("listen")), _listen_url(link.get("upstream"))
            app = direct or str(region["ehr_url"])
            targets.append(ProbeTarget(name, "app", app.rstrip("/") + "/readyz"))
            if edge:
                targets.append(ProbeTarget(name, "edge", edge.rstrip("/") + "/readyz"))
        return targets
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"{path} is not a valid deployment file: {e}") from e


class RegionSource:
    """Probe targets, re-read from ``deployment.json`` whenever the file changes."""

    def __init__(self, *, regions: dict[str, str], deployment_file: Path) -> None:
        self._fixed = targets_from_mapping(regions) if regions else None
        self._file = deployment_file
        self._mtime: float | None = None
        self._cached: list[ProbeTarget] = []

    def targets(self) -> list[ProbeTarget]:
        if self._fixed is not None:
            return self._fixed
        try:
            mtime = self._file.stat().st_mtime
        except OSError:
            self._mtime, self._cached = None, []
            return []
        if mtime != self._mtime:
            self._cached = targets_from_deployment(self._file)
            self._mtime = mtime
        return self._cached

    def regions(self) -> list[str]:
        seen: dict[str, None] = {}
        for t in self.targets():
            seen.setdefault(t.region, None)
        return list(seen)
