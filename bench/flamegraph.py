"""Flame graphs from py-spy's collapsed stacks (``py-spy record --format raw``).

:func:`read_stacks` parses ``frame;frame;frame count`` lines, :func:`top_frames` ranks
functions by the share of samples they were on top of the stack (self) and anywhere in
it (inclusive), and :func:`render_svg` draws the classic picture: callers below callees,
widths proportional to samples, a tooltip with each frame's share.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections import Counter
from typing import Any

Stacks = dict[tuple[str, ...], int]
_LINE = re.compile(r":\d+\)$")
ROW = 16
WIDTH = 1200
MIN_WIDTH = 1.0  # pixels: narrower frames are left out of the picture


def _frame(text: str) -> str:
    """``func (file.py:123)`` without the line, so one function is one frame."""
    return _LINE.sub(")", text.strip())


def read_stacks(text: str) -> Stacks:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(_frame(f) for f in stack.split(";") if f)] += int(count)
    return dict(stacks)


def top_frames(stacks: Stacks, count: int = 15) -> dict[str, Any]:
    """The hottest functions by self and by inclusive share of samples (percent)."""
    total = sum(stacks.values()) or 1
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for stack, samples in stacks.items():
        own[stack[-1]] += samples
        for name in set(stack):
            anywhere[name] += samples

    def ranked(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": name, "percent": round(100 * n / total, 1)}
            for name, n in counter.most_common(count)
        ]

    return {"samples": total, "self": ranked(own), "inclusive": ranked(anywhere)}


def _color(name: str) -> str:
    h = int(hashlib.sha1(name.encode()).hexdigest()[:6], 16)
    return f"rgb({205 + h % 50},{(h >> 8) % 180 + 40},{(h >> 16) % 55})"


def render_svg(stacks: Stacks, *, title: str) -> str:
    """The flame graph of ``stacks`` as an SVG document."""
    total = sum(stacks.values()) or 1
    tree: dict[str, Any] = {"n": total, "kids": {}}
    depth = 0
    for stack, samples in stacks.items():
        node = tree
        for name in stack:
            node = node["kids"].setdefault(name, {"n": 0, "kids": {}})
            node["n"] += samples
        depth = max(depth, len(stack))
    height = (depth + 3) * ROW
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="monospace" font-size="11">',
        f'<text x="6" y="14">{html.escape(title)} ({total} samples)</text>',
    ]
    scale = WIDTH / total

    def draw(node: dict[str, Any], x: float, level: int) -> None:
        for name, kid in sorted(node["kids"].items()):
            width = kid["n"] * scale
            if width >= MIN_WIDTH:
                y = height - (level + 1) * ROW
                share = 100 * kid["n"] / total
                label = html.escape(f"{name} ({kid['n']} samples, {share:.1f}%)")
                parts.append(
                    f'<g><title>{label}</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}" '
                    f'height="{ROW - 1}" fill="{_color(name)}"/>'
                )
                if width > 40:
                    chars = int(width / 7)
                    text = html.escape(name if len(name) <= chars else name[: chars - 2] + "..")
                    parts.append(f'<text x="{x + 2:.1f}" y="{y + 11}">{text}</text>')
                parts.append("</g>")
                draw(kid, x, level + 1)
            x += width

    draw(tree, 0.0, 0)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


__all__ = ["Stacks", "read_stacks", "render_svg", "top_frames"]
