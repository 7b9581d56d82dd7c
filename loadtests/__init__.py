"""chartguard full-load rehearsals: traffic profiles, load shapes, the write ledger, verify.

This package's public surface imports no Locust (Locust monkey-patches the process with
gevent on import); the Locust side (users, shapes, runner) loads only when a run starts.
"""

from loadtests.capacity import StepCapacity, StepResult
from loadtests.checker import Observation, Outcome, Presence, check
from loadtests.curves import SHAPES, Curve, Stage, build_curve
from loadtests.errors import (
    LedgerError,
    LoadtestError,
    ProfileError,
    RunError,
    ShapeError,
    VerifyError,
)
from loadtests.faults import FaultWindow, read_fault_windows
from loadtests.ledger import LedgerEntry, LedgerWriter, WriteStatus, read_ledger
from loadtests.profile import DEFAULT_PROFILE, EndpointClass, Profile, Role, load_profile
from loadtests.settings import LoadSettings
from loadtests.summary import EndpointStats, RunSummary
from loadtests.verdict import Judgement, Verdict, judge
from loadtests.verify import VerifyResult, verify_ledger

__all__ = [
    "DEFAULT_PROFILE",
    "SHAPES",
    "Curve",
    "EndpointClass",
    "EndpointStats",
    "FaultWindow",
    "Judgement",
    "LedgerEntry",
    "LedgerError",
    "LedgerWriter",
    "LoadSettings",
    "LoadtestError",
    "Observation",
    "Outcome",
    "Presence",
    "Profile",
    "ProfileError",
    "Role",
    "RunError",
    "RunSummary",
    "ShapeError",
    "Stage",
    "StepCapacity",
    "StepResult",
    "Verdict",
    "VerifyError",
    "VerifyResult",
    "WriteStatus",
    "build_curve",
    "check",
    "judge",
    "load_profile",
    "read_fault_windows",
    "read_ledger",
    "verify_ledger",
]
