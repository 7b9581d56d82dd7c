"""Generate Prometheus recording and alerting rules from the SLO spec.

For every objective and scope (``overall``, and per region) the rules record:

* ``slo:sli_error:ratio_rate<w>`` - the error ratio over each window of ``windows`` and
  over the SLO period (``ratio_rate30d``), counting series born inside the window too (a
  ``status="503"`` series appearing with its first errors would be invisible to ``rate()``);
* ``slo:burn_rate:rate<w>`` - that ratio divided by the error budget;
* ``slo:error_budget:remaining_ratio`` - 1 minus the share of the period's budget spent
  (negative once the budget is overspent);
* ``slo:objective:ratio`` and ``slo:error_budget:ratio`` - the target and budget, so
  dashboards and the status service read them from Prometheus too.

Series carry ``slo`` and ``scope`` labels, and ``region`` for the per-region scope. Record
names always carry the *standard* window (``ratio_rate1h``) whatever the profile, so
alerts, dashboards and the status service never change; a ``compressed`` profile only
shortens the range each one is computed over.

Alerts are multiwindow, multi-burn-rate (Google SRE workbook): one rule per objective,
severity and scope (``AvailabilityBudgetBurn{severity="page",component="edge"}``), firing
where any of its conditions holds over both its long and its short window. ``component``
(``edge`` overall, ``app`` per region) tells the status service where the alert belongs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitoring.duration import format_duration
from monitoring.files import atomic_write
from monitoring.slo import Objective, Profile, SLOSpec

__all__ = [
    "RULES_FILE",
    "error_record",
    "burn_record",
    "alert_name",
    "generate_rules",
    "render_rules",
    "write_rules",
]

RULES_FILE = "chartguard-slo.yml"
BUDGET_REMAINING = "slo:error_budget:remaining_ratio"
OBJECTIVE_RECORD = "slo:objective:ratio"
BUDGET_RECORD = "slo:error_budget:ratio"


def error_record(window_seconds: float) -> str:
    """Record name of the error ratio over a (standard) window, e.g. ``..._rate1h``."""
    return f"slo:sli_error:ratio_rate{format_duration(window_seconds)}"


def burn_record(window_seconds: float) -> str:
    """Record name of the burn rate over a (standard) window."""
    return f"slo:burn_rate:rate{format_duration(window_seconds)}"


def alert_name(objective: Objective) -> str:
    """``AvailabilityBudgetBurn`` for the ``availability`` objective."""
    title = "".join(part.capitalize() for part in objective.name.split("_"))
    return f"{title}BudgetBurn"


def _num(value: float) -> str:
    return f"{value:.12g}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.6g}%"


def _records(spec: SLOSpec, objective: Objective, profile: Profile) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    base = {"slo": objective.name}
    scopes: list[tuple[str, str, dict[str, str]]] = []
    windows = sorted({*spec.windows, spec.period})
    for w in windows:
        rng = profile.window(w)
        scopes = [("overall", objective.overall_error_ratio(rng, True), {"scope": "overall"})]
        if objective.indicator.per_region is not None:
            expr = objective.error_ratio(
                objective.indicator.per_region, rng, (spec.region_label,), True
            )
            scopes.append(("region", expr, {"scope": "region"}))
        for _, expr, labels in scopes:
            rules.append({"record": error_record(w), "expr": expr, "labels": {**base, **labels}})
    budget = _num(objective.budget)
    sel = f'{{slo="{objective.name}"}}'
    for w in windows:
        rules.append(
            {"record": burn_record(w), "expr": f"{error_record(w)}{sel} / {budget}", "labels": base}
        )
    rules.append(
        {
            "record": BUDGET_REMAINING,
            "expr": f"1 - {error_record(spec.period)}{sel} / {budget}",
            "labels": base,
        }
    )
    rules.append({"record": OBJECTIVE_RECORD, "expr": f"vector({_num(objective.target)})",
                  "labels": base})
    rules.append({"record": BUDGET_RECORD, "expr": f"vector({budget})", "labels": base})
    return rules


# The status service files an alert under its ``component``: the overall SLI is the edge
# as users see it; a region's own SLI is that region's application.
SCOPE_COMPONENTS = {"overall": "edge", "region": "app"}


def _alerts(spec: SLOSpec, objective: Objective, profile: Profile) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    budget = _num(objective.budget)
    scopes = ["overall"] + (["region"] if objective.indicator.per_region is not None else [])
    for policy in spec.alerts:
        conditions = ", or ".join(
            f"{_num(c.burn_rate)}x over {format_duration(c.long)} and {format_duration(c.short)}"
            + (
                ""
                if profile.factor == 1
                else f" (here {profile.window(c.long)} and {profile.window(c.short)})"
            )
            for c in policy.conditions
        )
        for scope in scopes:
            sel = f'{{slo="{objective.name}",scope="{scope}"}}'
            parts = []
            for cond in policy.conditions:
                limit = f"({_num(cond.burn_rate)} * {budget})"
                parts.append(
                    f"({error_record(cond.long)}{sel} > {limit}"
                    f" and {error_record(cond.short)}{sel} > {limit})"
                )
            rules.append(
                {
                    "alert": alert_name(objective),
                    "expr": "\nor\n".join(parts),
                    "labels": {
                        "severity": policy.severity,
                        "slo": objective.name,
                        "component": SCOPE_COMPONENTS[scope],
                    },
                    "annotations": {
                        "summary": (
                            f"{objective.display_name or objective.name} error budget burning "
                            "({{ $labels.scope }}{{ with $labels.region }} {{ . }}{{ end }})"
                        ),
                        "description": (
                            "Error ratio {{ $value | humanizePercentage }} over the long window; "
                            f"budget {_pct(objective.budget)} "
                            f"(objective {_pct(objective.target)}); fires on {conditions}."
                        ),
                    },
                }
            )
    return rules


def generate_rules(spec: SLOSpec, profile: Profile | str = "standard") -> dict[str, Any]:
    """The rule file content (``{"groups": [...]}``) for ``profile``.

    One group per objective, recording rules first: Prometheus evaluates a group's rules
    in order, so each alert sees the ratios recorded in the same evaluation.
    """
    prof = spec.profile(profile) if isinstance(profile, str) else profile
    groups = []
    for objective in spec.objectives.values():
        group: dict[str, Any] = {"name": f"chartguard-slo-{objective.name}"}
        if prof.evaluation_interval is not None:
            group["interval"] = format_duration(prof.evaluation_interval)
        group["rules"] = _records(spec, objective, prof) + _alerts(spec, objective, prof)
        groups.append(group)
    return {"groups": groups}


def render_rules(spec: SLOSpec, profile: Profile | str = "standard") -> str:
    """The rule file as YAML text, with a header saying where it came from."""
    prof = spec.profile(profile) if isinstance(profile, str) else profile
    header = (
        "# Generated by `chartguard slo rules` from monitoring/slo.yaml "
        f"(profile {prof.name}); do not edit.\n"
    )
    body = yaml.dump(generate_rules(spec, prof), Dumper=_Dumper, sort_keys=False, width=10_000)
    return header + body


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (alert expressions) as readable ``|`` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True  # no &id001 anchors: the file is read by people as well


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def write_rules(spec: SLOSpec, directory: Path | str, profile: Profile | str = "standard") -> Path:
    """Write the rule file into ``directory`` atomically; returns its path.

    Atomic (temp file + rename) because a Prometheus reload may read the directory at any
    moment and must never see half a file.
    """
    return atomic_write(Path(directory) / RULES_FILE, render_rules(spec, profile))

