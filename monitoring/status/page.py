"""The human status page: server-rendered HTML (Jinja2), live via SSE, no external assets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from monitoring.status.budget import SloSnapshot

_TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


def sparkline(values: list[float], *, width: int = 160, height: int = 32) -> str:
    """SVG polyline points for ``values`` scaled into the box (empty string for < 2 values)."""
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (v - lo) / span * (height - 2) - 1:.1f}"
        for i, v in enumerate(values)
    )


def _pct(value: float | None, digits: int = 3) -> str:
    return "no data" if value is None else f"{value * 100:.{digits}f}%"


def _fmt_rate(value: float | None) -> str:
    return "no data" if value is None else f"{value:.2f}x"


def _when(value: object) -> str:
    """ISO timestamps as ``2025-03-03 08:00:00 UTC`` (what an on-call human reads)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["when"] = _when
_env.filters["pct"] = _pct
_env.filters["rate"] = _fmt_rate
_env.filters["label"] = lambda s: str(s).replace("_", " ").capitalize()


def render_live(summary: dict[str, Any], slo: SloSnapshot) -> str:
    """The part of the page that refreshes on every event."""
    return _env.get_template("live.html").render(
        summary=summary, slo=slo, spark=sparkline(slo.series_24h))


def render_page(summary: dict[str, Any], slo: SloSnapshot) -> str:
    return _env.get_template("page.html").render(live=render_live(summary, slo))
