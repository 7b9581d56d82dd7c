"""The gate result as JSON, JUnit XML and a human (rich) table."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.table import Table

from monitoring.files import atomic_write
from monitoring.gate.result import Check, CheckStatus, GateResult, Outcome

__all__ = ["to_json", "to_junit", "write_json", "write_junit", "gate_table", "format_value"]

_STYLE = {
    CheckStatus.PASS: "green",
    CheckStatus.FAIL: "bold red",
    CheckStatus.ERROR: "bold yellow",
    CheckStatus.NOT_EVALUATED: "dim",
}


def format_value(value: float | None, unit: str) -> str:
    """A value for people: ratios as percentages, seconds as ms or s."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if unit == "ratio":
        return f"{value:.4%}"
    if unit == "relative":
        return f"{value:+.1%}"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    if unit == "writes":
        return f"{value:.0f}"
    return f"{value:.4g}"


def _threshold(check: Check) -> str:
    if check.threshold is None:
        return "-"
    return f"{check.comparator} {format_value(check.threshold, check.unit)}".strip()


def to_json(result: GateResult) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


def to_junit(result: GateResult) -> str:
    """JUnit XML: one test case per check; fail -> failure, error -> error,
    not_evaluated -> skipped, so CI shows which check stopped the release."""
    suite = ET.Element(
        "testsuite",
        name="chartguard.gate",
        tests=str(len(result.checks)),
        failures=str(len(result.by_status(CheckStatus.FAIL))),
        errors=str(len(result.by_status(CheckStatus.ERROR))),
        skipped=str(len(result.by_status(CheckStatus.NOT_EVALUATED))),
    )
    for check in result.checks:
        case = ET.SubElement(suite, "testcase", classname="chartguard.gate", name=check.name)
        message = (
            f"{format_value(check.value, check.unit)} (want {_threshold(check)})"
            + (f": {check.detail}" if check.detail else "")
        )
        if check.status is CheckStatus.FAIL:
            ET.SubElement(case, "failure", message=message).text = check.query or ""
        elif check.status is CheckStatus.ERROR:
            ET.SubElement(case, "error", message=message).text = check.query or ""
        elif check.status is CheckStatus.NOT_EVALUATED:
            ET.SubElement(case, "skipped", message=check.detail)
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_json(result: GateResult, path: Path) -> Path:
    return atomic_write(path, to_json(result))


def write_junit(result: GateResult, path: Path) -> Path:
    return atomic_write(path, to_junit(result))


def gate_table(result: GateResult) -> Table:
    """The checks as a rich table, with the outcome in the title."""
    outcome = result.outcome.value.upper()
    span = result.window.to_dict()
    table = Table(title=f"chartguard gate: {outcome} ({result.profile} profile, "
                  f"{span['start_iso']} .. {span['end_iso']})")
    for column in ("check", "status", "value", "threshold", "detail"):
        table.add_column(column, overflow="fold")
    for check in result.checks:
        style = _STYLE[check.status]
        table.add_row(
            check.name,
            f"[{style}]{check.status.value}[/]",
            format_value(check.value, check.unit),
            _threshold(check),
            check.detail,
        )
    return table


def error_summary(result: GateResult) -> str | None:
    """One sentence on why the gate could not evaluate (exit 2), or None when it could.

    The table repeats the same cause on every check (Prometheus down errors them all);
    this says it once, with what to do about it.
    """
    errors = result.by_status(CheckStatus.ERROR)
    if result.outcome is not Outcome.ERROR:
        return None
    if not errors:
        return "could not evaluate: no check passed or failed (nothing was judged)"
    causes: dict[str, int] = {}
    for check in errors:
        causes[check.detail or "no detail"] = causes.get(check.detail or "no detail", 0) + 1
    cause = max(causes, key=lambda c: causes[c])
    sentence = f"could not evaluate {len(errors)} of {len(result.checks)} checks: {cause}"
    if "did not answer" in cause and "Prometheus" in cause:
        sentence += (
            " (is Prometheus running? pass --prometheus URL or set CHARTGUARD_PROMETHEUS_URL;"
            " `chartguard up` starts one on the local stack)"
        )
    return sentence
