"""Gate checks from result files other packages write: ledger verify and failover.

The ledger verify result is ``loadtests``' JSON (``{"kind": "chartguard.load.verify",
"ok", "entries", "lost", "corrupted", "problems", ...}``); a bare ``{"lost": n,
"corrupted": n}`` is accepted too. The failover result is runbooks' cutover record
(``{"kind_of_record": "chartguard.cutover", "rto_s", "write_unavailable_s", "rpo_writes",
"lost_writes", ...}``) or a bare ``{"rto_seconds", "rpo_writes"}``: the RTO is the first
of ``rto_seconds``, ``rto_s`` (the write probe's), ``write_unavailable_s`` that is set, the
RPO the first of ``rpo_writes``, ``lost_writes``. A file that cannot be read or lacks a
value makes its checks ``error``, never ``pass``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from monitoring.gate.result import Check, CheckStatus
from monitoring.slo import GateThresholds

__all__ = ["ledger_checks", "failover_checks"]


def _load(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        return None, f"cannot read {path}: {e.strerror}"
    except ValueError as e:
        return None, f"{path} is not JSON: {e}"
    if not isinstance(data, dict):
        return None, f"{path}: expected a JSON object"
    return data, ""


def _count(data: dict[str, Any], *keys: str) -> tuple[float | None, str]:
    for key in keys:
        if data.get(key) is not None:  # runbooks writes null for what it did not measure
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None, f"field {key!r} is not a number"
            if not math.isfinite(value) or value < 0:
                return None, f"field {key!r} must be a finite number >= 0"
            return float(value), ""
    return None, f"missing field {' or '.join(repr(k) for k in keys)}"


def _error(name: str, detail: str, threshold: float, unit: str) -> Check:
    return Check(name=name, status=CheckStatus.ERROR, threshold=threshold, comparator="<=",
                 unit=unit, detail=detail)


def ledger_checks(path: Path, thresholds: GateThresholds) -> list[Check]:
    """Lost and corrupted acknowledged writes, and the verifier's own verdict."""
    data, problem = _load(path)
    specs = [
        ("ledger lost writes", ("lost",), thresholds.max_lost_writes),
        ("ledger corrupted writes", ("corrupted",), thresholds.max_corrupted_writes),
    ]
    if data is None:
        return [_error(name, problem, limit, "writes") for name, _, limit in specs]
    checks = []
    for name, keys, limit in specs:
        value, why = _count(data, *keys)
        if value is None:
            checks.append(_error(name, f"{path.name}: {why}", limit, "writes"))
        else:
            checks.append(Check.compare(name=name, value=value, threshold=limit,
                                        comparator="<=", unit="writes", detail=path.name))
    entries = data.get("entries")
    if isinstance(entries, int) and entries == 0:
        checks.append(_error("ledger verify", "the ledger had no entries: nothing was verified",
                             0, "writes"))
    elif data.get("ok") is False and all(c.status is CheckStatus.PASS for c in checks):
        problems = data.get("problems") or ["the verifier reported a failure"]
        checks.append(Check(name="ledger verify", status=CheckStatus.FAIL,
                            detail="; ".join(str(p) for p in problems)[:500]))
    return checks


def failover_checks(path: Path, thresholds: GateThresholds) -> list[Check]:
    """Recovery time and acknowledged writes lost in a failover."""
    data, problem = _load(path)
    specs = [
        ("failover RTO", ("rto_seconds", "rto_s", "write_unavailable_s"), thresholds.max_rto, "s"),
        ("failover RPO", ("rpo_writes", "lost_writes"), float(thresholds.max_rpo_writes), "writes"),
    ]
    if data is None:
        return [_error(name, problem, limit, unit) for name, _, limit, unit in specs]
    checks = []
    for name, keys, limit, unit in specs:
        value, why = _count(data, *keys)
        if value is None:
            checks.append(_error(name, f"{path.name}: {why}", limit, unit))
        else:
            checks.append(Check.compare(name=name, value=value, threshold=limit,
                                        comparator="<=", unit=unit, detail=path.name))
    return checks
