"""Load curves: how many of a profile's people are at work over a (nominal) day.

A :class:`Curve` is a list of stages, each a linear ramp (or a hold) of the *fraction* of the
profile's people at work, on a nominal clock in seconds. The Locust shapes in
:mod:`loadtests.shapes` play a curve on a compressed clock (``time_scale``); everything here is
pure so it can be tested without starting Locust.

Shapes:

* ``monday-surge``: practices opening across time zones (a steep ramp to the peak), the peak
  hold, a lunch dip, an afternoon bump, closing. The peak hold is the measured window.
* ``steady-day``: an ordinary day at the rate without the Monday factor.
* ``steady-peak``: a short ramp, then the Monday peak held: the reference a rehearsal's
  surge is compared with (same load, no fault, no migration).
* ``soak``: three quarters of the peak, held for twelve hours.
* ``step-capacity``: steps of a quarter of the profile's people, up to four times the profile,
  until a step breaks the SLO; the knee is the last step that held
  (:class:`loadtests.capacity.StepCapacity`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadtests.errors import ShapeError
from loadtests.profile import Profile

__all__ = ["SHAPES", "Curve", "Stage", "build_curve"]

MINUTE = 60.0
HOUR = 3600.0


@dataclass(frozen=True)
class Stage:
    """``duration`` nominal seconds ramping linearly from ``start`` to ``end`` (fractions)."""

    name: str
    duration: float
    start: float
    end: float

    @property
    def is_hold(self) -> bool:
        return self.start == self.end


@dataclass(frozen=True)
class Curve:
    """A shape's timeline; ``measured`` names the stage whose achieved rate decides "full scale"."""

    name: str
    stages: tuple[Stage, ...]
    measured: str | None
    # Step-capacity curves are judged step by step instead of by one measured window.
    stepped: bool = False

    @property
    def total(self) -> float:
        return sum(stage.duration for stage in self.stages)

    def span(self, stage_name: str) -> tuple[float, float]:
        """Nominal ``(start, end)`` of the named stage."""
        at = 0.0
        for stage in self.stages:
            if stage.name == stage_name:
                return at, at + stage.duration
            at += stage.duration
        raise KeyError(stage_name)

    def stage_at(self, t: float) -> tuple[Stage, float] | None:
        """The stage running at nominal time ``t`` and the time into it; None after the end."""
        if t < 0:
            t = 0.0
        at = 0.0
        for stage in self.stages:
            if t < at + stage.duration:
                return stage, t - at
            at += stage.duration
        return None

    def fraction_at(self, t: float) -> float | None:
        """Fraction of the profile's people at work at nominal time ``t``; None after the end."""
        found = self.stage_at(t)
        if found is None:
            return None
        stage, into = found
        if stage.duration <= 0:
            return stage.end
        return stage.start + (stage.end - stage.start) * (into / stage.duration)

    def peak_fraction(self) -> float:
        return max(max(stage.start, stage.end) for stage in self.stages)

    def measured_fraction(self) -> float | None:
        """The fraction held in the measured stage (its target rate / the profile's peak)."""
        if self.measured is None:
            return None
        for stage in self.stages:
            if stage.name == self.measured:
                return max(stage.start, stage.end)
        return None


def users_for(fraction: float, total_people: int) -> int:
    """Simulated people for a fraction of the profile: never zero while anybody should work."""
    if fraction <= 0:
        return 0
    return max(1, math.ceil(fraction * total_people - 1e-9))


def _monday_surge(profile: Profile) -> Curve:
    return Curve(
        name="monday-surge",
        stages=(
            Stage("opening", 30 * MINUTE, 0.0, 1.0),
            Stage("peak", 90 * MINUTE, 1.0, 1.0),
            Stage("to-lunch", 10 * MINUTE, 1.0, 0.45),
            Stage("lunch", 45 * MINUTE, 0.45, 0.45),
            Stage("to-afternoon", 10 * MINUTE, 0.45, 0.8),
            Stage("afternoon", 90 * MINUTE, 0.8, 0.8),
            Stage("closing", 15 * MINUTE, 0.8, 0.0),
        ),
        measured="peak",
    )


def _steady_day(profile: Profile) -> Curve:
    ordinary = 1.0 / profile.monday_peak_factor
    return Curve(
        name="steady-day",
        stages=(
            Stage("opening", 30 * MINUTE, 0.0, ordinary),
            Stage("morning", 3.5 * HOUR, ordinary, ordinary),
            Stage("lunch", 1 * HOUR, ordinary * 0.5, ordinary * 0.5),
            Stage("afternoon", 3.5 * HOUR, ordinary, ordinary),
            Stage("closing", 30 * MINUTE, ordinary, 0.0),
        ),
        measured="morning",
    )


def _steady_peak(profile: Profile) -> Curve:
    return Curve(
        name="steady-peak",
        stages=(
            Stage("ramp", 5 * MINUTE, 0.0, 1.0),
            Stage("peak", 1 * HOUR, 1.0, 1.0),
        ),
        measured="peak",
    )


def _soak(profile: Profile) -> Curve:
    return Curve(
        name="soak",
        stages=(
            Stage("ramp", 10 * MINUTE, 0.0, 0.75),
            Stage("soak", 12 * HOUR, 0.75, 0.75),
        ),
        measured="soak",
    )


STEP_FRACTION = 0.25
STEP_MAX = 4.0
STEP_DURATION = 5 * MINUTE


def _step_capacity(profile: Profile) -> Curve:
    steps = round(STEP_MAX / STEP_FRACTION)
    return Curve(
        name="step-capacity",
        stages=tuple(
            Stage(f"step-{k}", STEP_DURATION, k * STEP_FRACTION, k * STEP_FRACTION)
            for k in range(1, steps + 1)
        ),
        measured=None,
        stepped=True,
    )


SHAPES = {
    "monday-surge": _monday_surge,
    "steady-day": _steady_day,
    "steady-peak": _steady_peak,
    "soak": _soak,
    "step-capacity": _step_capacity,
}


def build_curve(shape: str, profile: Profile) -> Curve:
    """The named shape's curve for ``profile``; unknown names raise :class:`ShapeError`."""
    try:
        factory = SHAPES[shape]
    except KeyError:
        raise ShapeError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}") from None
    return factory(profile)
