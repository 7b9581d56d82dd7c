"""Locust ``LoadTestShape``: play a :class:`~loadtests.curves.Curve` on a compressed clock.

``time_scale`` nominal seconds pass per real second (a 5-hour Monday at ``time_scale=300``
takes a minute); ``duration`` (real seconds) stops the run early. At every stage boundary
the shape calls ``on_stage_end(stage, start, end)`` with the stage's real time span; the
step-capacity run uses it to judge the step and returns False to stop at the first step
that broke the SLO.
"""

from __future__ import annotations

from collections.abc import Callable

from locust import LoadTestShape

from loadtests.curves import Curve, Stage, users_for

__all__ = ["CurveShape"]

StageEnd = Callable[[Stage, float, float], bool]


class CurveShape(LoadTestShape):
    """Follows ``curve`` with ``total_people`` at fraction 1.0."""

    def __init__(
        self,
        *,
        curve: Curve,
        total_people: int,
        time_scale: float,
        duration: float | None = None,
        on_stage_end: StageEnd | None = None,
        max_spawn_rate: float | None = None,
    ) -> None:
        super().__init__()
        self.max_spawn_rate = max_spawn_rate
        self.curve = curve
        self.total_people = total_people
        self.time_scale = time_scale
        self.duration = duration
        self.on_stage_end = on_stage_end
        self.target_users = 0
        self.stage: Stage | None = None
        self._stage_started = 0.0
        self.stopped_early = False
        # Run time when the shape ended (None while it plays): later samples are the stop.
        self.ended_at: float | None = None

    def _stage_changed(self, new: Stage | None, now: float) -> bool:
        """Report the stage that just ended; False stops the run."""
        ended, self.stage = self.stage, new
        start, self._stage_started = self._stage_started, now
        if new is None and self.ended_at is None:
            self.ended_at = now
        if ended is not None and self.on_stage_end is not None:
            return self.on_stage_end(ended, start, now)
        return True

    def tick(self) -> tuple[int, float] | None:
        now = self.get_run_time()
        if self.duration is not None and now >= self.duration:
            self._stage_changed(None, now)
            return None
        found = self.curve.stage_at(now * self.time_scale)
        if found is None:
            self._stage_changed(None, now)
            return None
        stage, into = found
        if stage is not self.stage and not self._stage_changed(stage, now):
            self.stopped_early = True
            self.ended_at = now
            return None
        fraction = self.curve.fraction_at(now * self.time_scale) or 0.0
        self.target_users = users_for(fraction, self.total_people)
        # Follow the curve within about a second: the ramp's own slope, or the jump to a step.
        slope = abs(stage.end - stage.start) / stage.duration if stage.duration else 0.0
        per_second = slope * self.time_scale * self.total_people
        current = self.runner.user_count if self.runner is not None else 0
        spawn_rate = max(1.0, per_second * 1.5, float(abs(self.target_users - current)))
        if self.max_spawn_rate is not None and self.target_users > current:
            spawn_rate = min(spawn_rate, self.max_spawn_rate)
        return self.target_users, round(spawn_rate, 1)
