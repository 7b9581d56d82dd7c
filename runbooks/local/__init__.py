"""Cutover mechanics on the local stack: fence, promote, route, rebuild, as small steps.

:class:`Cutover` composes them into a migration (planned, gated, with rollback) or a
failover (unplanned); :class:`LocalCluster` says which servers exist and who is
primary (from ``.state/<stack>/deployment.json``); :class:`WriteProbe` measures what
users see while it happens.
"""

from runbooks.local.cluster import LocalCluster, load_deployment, topology_from_deployment
from runbooks.local.cutover import NO_GATE, Cutover, CutoverOptions, Notices, SkippedGate, SloGate
from runbooks.local.fence import FenceError, fence, is_fenced, unfence
from runbooks.local.outcome import CutoverResult, CutoverStatus, StepRecord, StepStatus
from runbooks.local.probe import ProbeResult, WriteProbe
from runbooks.local.promote import promote, set_sync_standbys
from runbooks.local.rebuild import RebuildResult, rebuild_as_standby
from runbooks.local.replication import ReplicationState, replication_state, wait_replayed
from runbooks.local.router import RouterControl, ServerInfo, reload_with_primary

__all__ = [
    "Cutover",
    "CutoverOptions",
    "CutoverResult",
    "CutoverStatus",
    "FenceError",
    "LocalCluster",
    "Notices",
    "ProbeResult",
    "RebuildResult",
    "ReplicationState",
    "RouterControl",
    "ServerInfo",
    "SloGate",
    "SkippedGate",
    "NO_GATE",
    "StepRecord",
    "StepStatus",
    "WriteProbe",
    "fence",
    "is_fenced",
    "load_deployment",
    "promote",
    "rebuild_as_standby",
    "reload_with_primary",
    "replication_state",
    "set_sync_standbys",
    "topology_from_deployment",
    "unfence",
    "wait_replayed",
]
