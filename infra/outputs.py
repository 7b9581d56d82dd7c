"""Stack outputs and the deployment file other packages read.

The Pulumi program exports :func:`stack_outputs` (plus whatever the target adds: DSNs
as secrets, pids); after ``up`` the driver turns the outputs back into
``.state/<stack>/deployment.json`` with :func:`deployment_document`, the contract in
``docs/interfaces.md``. Other packages read that file, never Pulumi state.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.topology import Topology

__all__ = ["stack_outputs", "deployment_document", "write_deployment", "SECRET_OUTPUTS"]

#: Outputs exported as secrets. Besides its own, the local target adds ``dsns``
#: {region: dsn}, ``pids`` {region: {component: pid}} and ``service_pids`` {service: pid}.
SECRET_OUTPUTS = frozenset({"dsns"})


def stack_outputs(topology: Topology) -> dict[str, Any]:
    """The outputs derived from the topology alone (the aws target supplies its own URLs)."""
    if topology.target != "local":
        return {"topology": topology.to_dict()}
    s = topology.services
    return {
        "router_url": s.router.url(),
        "router_metrics_url": f"{s.router_stats.url()}/metrics",
        "region_urls": {r.name: topology.ehr_url(r.name) for r in topology.regions},
        "toxiproxy_url": s.toxiproxy.url(),
        "prometheus_url": s.prometheus.url(),
        "alertmanager_url": s.alertmanager.url(),
        "status_url": s.status.url(),
        "topology": topology.to_dict(),
    }


def deployment_document(outputs: Mapping[str, Any], *, stack: str) -> dict[str, Any]:
    """``deployment.json``'s content from plain (already unwrapped) stack outputs."""
    topo = outputs["topology"]
    dsns: Mapping[str, str] = outputs.get("dsns") or {}
    pids: Mapping[str, Mapping[str, int]] = outputs.get("pids") or {}
    region_urls: Mapping[str, str] = outputs["region_urls"]
    return {
        "stack": stack,
        "target": topo["target"],
        "replication": topo["replication"],
        "regions": [
            {
                "name": r["name"],
                "role": r["role"],
                "address": r["address"],
                "ehr_url": region_urls[r["name"]],
                "dsn": dsns.get(r["name"]),
                "pids": dict(pids.get(r["name"], {})),
            }
            for r in topo["regions"]
        ],
        "links": [
            {"name": link["name"], "listen": link["listen"], "upstream": link["upstream"]}
            for link in topo["links"]
        ],
        "router": outputs["router_url"],
        "router_metrics": outputs["router_metrics_url"],
        "toxiproxy": outputs["toxiproxy_url"],
        "prometheus": outputs["prometheus_url"],
        "alertmanager": outputs["alertmanager_url"],
        "status": outputs["status_url"],
        "service_pids": dict(outputs.get("service_pids") or {}),
    }


def write_deployment(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` atomically (readers never see half a file), mode 0600
    because it holds DSNs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deployment-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
