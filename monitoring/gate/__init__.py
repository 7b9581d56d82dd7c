"""The SLA release gate: evaluate a time window through Prometheus, pass/fail/error."""

from monitoring.gate.comparison import Comparison, compare_samples
from monitoring.gate.evaluation import Gate, GateRequest
from monitoring.gate.outputs import (
    error_summary,
    gate_table,
    to_json,
    to_junit,
    write_json,
    write_junit,
)
from monitoring.gate.result import Check, CheckStatus, GateResult, Outcome
from monitoring.gate.window import TimeWindow

__all__ = [
    "Check",
    "CheckStatus",
    "Comparison",
    "Gate",
    "GateRequest",
    "GateResult",
    "Outcome",
    "TimeWindow",
    "compare_samples",
    "error_summary",
    "gate_table",
    "to_json",
    "to_junit",
    "write_json",
    "write_junit",
]
