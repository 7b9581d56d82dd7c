"""chartguard chaos: Toxiproxy network-brownout scenarios with guaranteed rollback.

Load a scenario (:func:`find_scenario`), run it with a :class:`Runner` against a
:class:`ToxiproxyAdapter`, and read the :class:`RunResult` (also written as the JSON journal).
"""

from chaos.adapter import ProxyState, ToxicState, ToxiproxyAdapter
from chaos.deployment import Deployment
from chaos.errors import (
    ChaosError,
    DeploymentError,
    Interrupted,
    ProbeError,
    RecordError,
    ScenarioError,
    ToxiproxyError,
    UnsafeTargetError,
)
from chaos.journal import RunResult, RunStatus, Verdict
from chaos.library import LIBRARY_DIR, find_scenario, library_paths
from chaos.links import LinkMap
from chaos.metrics import FaultGauge
from chaos.plan import Plan, build_plan
from chaos.rollback import RollbackResult, roll_back_record
from chaos.runner import Runner
from chaos.scenario import Phase, Scenario, load_scenario, parse_scenario
from chaos.settings import ChaosSettings
from chaos.toxics import TOXIC_TYPES

__all__ = [
    "LIBRARY_DIR",
    "TOXIC_TYPES",
    "ChaosError",
    "ChaosSettings",
    "Deployment",
    "DeploymentError",
    "FaultGauge",
    "Interrupted",
    "LinkMap",
    "Phase",
    "Plan",
    "ProbeError",
    "ProxyState",
    "RecordError",
    "RollbackResult",
    "RunResult",
    "RunStatus",
    "Runner",
    "Scenario",
    "ScenarioError",
    "ToxicState",
    "ToxiproxyAdapter",
    "ToxiproxyError",
    "UnsafeTargetError",
    "Verdict",
    "build_plan",
    "find_scenario",
    "library_paths",
    "load_scenario",
    "parse_scenario",
    "roll_back_record",
]
