"""Window-versus-baseline comparison of samples with a one-sided Mann-Whitney U test.

As Kayenta's judge does, the gate flags a regression when the window's samples are
significantly *greater* than the baseline's (p < alpha) AND the effect is large enough to
matter (the window's median at least ``min_effect`` above the baseline's, relative, and at
least ``min_delta`` above it in absolute terms), so a tiny but significant shift in a long
run does not fail a release, a big relative shift among answers too fast for anyone to
notice does not either, and neither does a big shift on noise. NaN samples (steps
without traffic) are dropped first; too few samples left means the comparison could not
be evaluated.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

from monitoring.gate.result import Check, CheckStatus
from monitoring.slo import ComparisonPolicy

__all__ = ["Comparison", "compare_samples"]


@dataclass(frozen=True)
class Comparison:
    """The statistics of one comparison."""

    window_n: int
    baseline_n: int
    window_median: float
    baseline_median: float
    effect: float  # relative increase of the median (0.25 = 25% worse)
    p_value: float


def _effect(window_median: float, baseline_median: float) -> float:
    if baseline_median > 0:
        return window_median / baseline_median - 1
    return math.inf if window_median > 0 else 0.0


def compare_samples(
    *,
    name: str,
    window: Sequence[float],
    baseline: Sequence[float],
    policy: ComparisonPolicy,
    unit: str = "s",
    query: str | None = None,
) -> tuple[Check, Comparison | None]:
    """Compare ``window`` with ``baseline`` (higher is worse) into a gate check."""
    w = [v for v in window if math.isfinite(v)]
    b = [v for v in baseline if math.isfinite(v)]
    if len(w) < policy.min_samples or len(b) < policy.min_samples:
        return (
            Check(
                name=name,
                status=CheckStatus.ERROR,
                threshold=policy.min_effect,
                comparator="<=",
                unit="relative",
                query=query,
                detail=(
                    f"too few samples to compare: {len(w)} in the window, {len(b)} in the "
                    f"baseline (need {policy.min_samples} each)"
                ),
            ),
            None,
        )
    wm, bm = statistics.median(w), statistics.median(b)
    if len(set(w) | set(b)) == 1:
        p = 1.0  # every sample identical: no shift at all (scipy would answer NaN)
    else:
        p = float(mannwhitneyu(w, b, alternative="greater").pvalue)
    stats = Comparison(len(w), len(b), wm, bm, _effect(wm, bm), p)
    detail = (
        f"one-sided Mann-Whitney U p={p:.3g} (alpha {policy.alpha:g}); median "
        f"{_fmt(wm, unit)} vs baseline {_fmt(bm, unit)}; n={len(w)}/{len(b)}"
    )
    significant = p < policy.alpha and stats.effect >= policy.min_effect
    if not math.isfinite(p):
        status = CheckStatus.ERROR
        detail = "the test gave no p-value; " + detail
    elif significant and wm - bm >= policy.min_delta:
        status = CheckStatus.FAIL
        detail = "significant regression: " + detail
    elif significant:
        status = CheckStatus.PASS
        detail += f"; a shift under {_fmt(policy.min_delta, unit)} is not a regression"
    else:
        status = CheckStatus.PASS
    return (
        Check(
            name=name,
            status=status,
            value=stats.effect,
            threshold=policy.min_effect,
            comparator="<=",
            unit="relative",
            query=query,
            detail=detail,
        ),
        stats,
    )


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms"
    return f"{value:.4g}{unit}"
