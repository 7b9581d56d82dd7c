"""The measured numbers in ``docs/benchmarks.md``, rendered from ``bench/results/*.json``.

Each generated block sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``;
``python -m bench.report`` rewrites every block from the results (``make bench`` runs it
after the benchmarks), ``python -m bench.report --check`` exits 1 naming
the blocks that do not match the results (a unit test runs the check, so a number edited
by hand, or results committed without regenerating these docs, fail the suite).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"


def _ms(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _goal(data: dict[str, Any], key: str) -> str:
    goal = data.get("goals", {}).get(key)
    if not goal:
        return ""
    return f"{goal['target']}: **{'met' if goal['met'] else 'not met'}**"


def render_ehr(data: dict[str, Any]) -> str:
    """The EHR performance table (``bench/results/ehr.json``)."""
    mix, trivial = data["mix"]["total"], data["trivial"]["total"]
    load = data["machine"]["load_average"]
    by_class = ", ".join(
        f"{name} {ms:.2f}" for name, ms in data["cpu_ms_per_request_by_class"].items()
    )
    storm = data["sign_in_storm"]
    sign_in = storm["sign_in"]
    peak = data["monday_peak"]
    postgres_ms = data["postgres_cpu_ms_per_request"]
    storm_goals = "; ".join(
        _goal(data, f"sign_in_storm.{k}") for k in ("read_p99_ms", "readyz_worst_ms")
    )
    rows = [
        ("practice-day mix, saturated",
         f"{mix['rps']:,.0f} req/s; `/healthz` {trivial['rps']:,.0f} req/s; ratio "
         f"{data['ratio_mix_over_healthz']:.2f}", _goal(data, "ratio_mix_over_healthz")),
        ("EHR CPU per mix request",
         f"{data['cpu_ms_per_request']:.2f} ms (PostgreSQL {postgres_ms:.2f} ms)",
         _goal(data, "cpu_ms_per_request")),
        ("EHR CPU per request, by class (ms)", by_class, ""),
        ("mix paced at 80% of saturation",
         f"{data['paced_80pct']['rps']:,.0f} req/s, p99 {_ms(data['paced_80pct']['p99_ms'])}",
         _goal(data, "paced_80pct.p99_ms")),
        ("sign-in storm (mix at 50%)",
         f"{sign_in['people']} sign-ins in {sign_in['offered_over_s']:g} s: reads p99 "
         f"{_ms(storm['read_p99_ms'])}, `/readyz` worst {_ms(storm['readyz_worst_ms'])}, "
         f"{storm['refused']} refused (429)",
         storm_goals),
        ("default profile's Monday peak",
         f"{peak['peak_rps']:g} req/s = {data['monday_peak_share_of_capacity']:.1%} of the mix's "
         "capacity", _goal(data, "monday_peak_share_of_capacity")),
    ]  # fmt: skip
    lines = [
        f"Measured {data['when'][:10]} by `python -m bench ehr` (`bench/results/ehr.json`): "
        f"`chartguard ehr serve --workers {data['server']['workers']}` on PostgreSQL as the "
        f"local stack runs it (sync standby, fsync on), {data['data']['practices']} practices, "
        f"Locust on the same {data['machine']['cpus']} cores (load average "
        f"{load['before'][0]:g} before, {load['after'][0]:g} after).",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    previous = data.get("previous") or {}
    if previous.get("mix_rps"):
        ratio = previous.get("ratio_mix_over_healthz") or previous.get("ratio_mix_over_trivial_rps")
        lines += [
            "",
            f"Previous run ({str(previous.get('when', ''))[:10]}): mix {previous['mix_rps']:,.0f}"
            f" req/s, ratio {ratio}.",
        ]
    return "\n".join(lines)


def render_load(data: dict[str, Any]) -> str:
    """The load generator's capacity and the SQLite knee (``bench/results/load.json``)."""
    generator = data["generator"]
    bare, practice = generator["bare"], generator["practice"]
    knee = data["knee"]
    lines = [
        f"  One process, CPU-bound ({practice['cpu_percent']:.0f}% of a core): practice users "
        f"{practice['requests_per_cpu_second']:,.0f} requests per CPU-second, bare Locust "
        f"{bare['requests_per_cpu_second']:,.0f} (ratio "
        f"{generator['practice_over_bare_per_cpu_second']:.2f}, goal "
        f"{generator['goal']['target']}: **{'met' if generator['goal']['met'] else 'not met'}**);"
        f" two bare processes {generator['two_processes_rps']:,.0f} requests/s.",
    ]
    if knee.get("knee"):
        held = knee["knee"]
        lines.append(
            f"  Knee: {held['rate_rps']:.1f} requests/s from {held['users']} people "
            f"({held['step']}; broke at {knee.get('broke_at') or 'none'}), "
            f"verdict `{knee['verdict']}`."
        )
    return "\n".join(lines)


RENDERERS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "ehr": ("ehr.json", render_ehr),
    "load": ("load.json", render_load),
}
_BLOCK = re.compile(
    r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S
)


def render(text: str, results: Path = RESULTS) -> str:
    """``text`` with every generated block rendered from ``results``."""

    def one(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in RENDERERS:
            raise KeyError(f"block bench:{name} has no renderer in bench/report.py")
        file, renderer = RENDERERS[name]
        body = renderer(json.loads((results / file).read_text()))
        return f"{match.group(1)}{body}\n{match.group(4)}"

    return _BLOCK.sub(one, text)


def stale(doc: Path = DOC, results: Path = RESULTS) -> list[str]:
    """Names of the blocks in ``doc`` that differ from what the results render."""
    text = doc.read_text()
    fresh = render(text, results)
    have = {m.group("name"): m.group(0) for m in _BLOCK.finditer(text)}
    want = {m.group("name"): m.group(0) for m in _BLOCK.finditer(fresh)}
    return sorted(name for name in have if have[name] != want.get(name))


def main(argv: list[str]) -> int:
    if "--check" in argv:
        names = stale()
        for name in names:
            print(f"docs/benchmarks.md block bench:{name} is stale: run `python -m bench.report`")
        return 1 if names else 0
    DOC.write_text(render(DOC.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
