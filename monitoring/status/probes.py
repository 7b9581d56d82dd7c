"""Active probes of each region's ``/readyz``, with HAProxy-like fall/rise hysteresis.

A verdict only changes after ``fall`` consecutive bad probes (or ``rise`` good ones), so a
single slow answer does not flip the page, while a real outage shows within
``fall * interval`` seconds (4 s by default).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from monitoring.status.models import ComponentState
from monitoring.status.regions import ProbeTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProbeVerdict:
    """What one probe round concluded about a target: component -> (state, reason)."""

    target: ProbeTarget
    states: dict[str, tuple[ComponentState, str]]

    @property
    def healthy(self) -> bool:
        return all(s is ComponentState.operational for s, _ in self.states.values())

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """Compared between rounds; reasons count, so a new error text is a new verdict."""
        return tuple(sorted((c, s.value) for c, (s, _) in self.states.items()))


SLOW_EDGE_SECONDS = 1.0


def _has_elapsed(response: httpx.Response) -> bool:
    try:
        response.elapsed  # noqa: B018 - set only once a real response was read
    except RuntimeError:
        return False
    return True


def judge(target: ProbeTarget, response: httpx.Response | None, error: str | None, *,
          lag_threshold: float) -> ProbeVerdict:
    """Turn one ``/readyz`` outcome into component states (pure; unit-tested)."""
    ok = ComponentState.operational
    if target.component == "edge":
        # The edge is the network path: any HTTP answer means it carries traffic (what the
        # answer says is the app's and database's business, judged by the direct probe).
        if response is None:
            return ProbeVerdict(target, {"edge": (ComponentState.major_outage,
                                                  f"edge link unreachable ({error})")})
        elapsed = response.elapsed.total_seconds() if _has_elapsed(response) else 0.0
        if elapsed > SLOW_EDGE_SECONDS:
            return ProbeVerdict(target, {"edge": (ComponentState.degraded_performance,
                                                  f"edge answered in {elapsed:.1f} s")})
        return ProbeVerdict(target, {"edge": (ok, "edge link carries traffic")})
    if response is None:
        return ProbeVerdict(target, {"app": (ComponentState.major_outage,
                                             f"EHR /readyz unreachable ({error})")})
    if response.status_code == 503:
        return ProbeVerdict(target, {
            "app": (ComponentState.partial_outage, "EHR not ready: database unreachable"),
            "database": (ComponentState.major_outage, "EHR reports its database unreachable"),
        })
    if response.status_code != 200:
        return ProbeVerdict(target, {"app": (ComponentState.partial_outage,
                                             f"EHR /readyz returned {response.status_code}")})
    states: dict[str, tuple[ComponentState, str]] = {
        "app": (ok, "EHR ready"),
        "database": (ok, "database reachable"),
    }
    try:
        body = response.json()
        lag = body.get("replication_lag_seconds") if isinstance(body, dict) else None
    except ValueError:
        lag = None
    if isinstance(lag, int | float):
        if lag > lag_threshold:
            states["replication"] = (ComponentState.degraded_performance,
                                     f"replication lag {lag:.1f} s over {lag_threshold:g} s")
        else:
            states["replication"] = (ok, f"replication lag {lag:.1f} s")
    return ProbeVerdict(target, states)


@dataclass(slots=True)
class _Track:
    committed: ProbeVerdict | None = None
    candidate: tuple[tuple[str, str], ...] | None = None
    count: int = 0
    last: ProbeVerdict | None = field(default=None)


class Prober:
    """Probe each target every ``interval`` s; report committed verdicts to ``on_verdict``."""

    def __init__(
        self,
        *,
        targets: Callable[[], list[ProbeTarget]],
        on_verdict: Callable[[ProbeVerdict], None],
        client: httpx.AsyncClient,
        interval: float,
        fall: int,
        rise: int,
        lag_threshold: float,
    ) -> None:
        self._targets = targets
        self._on_verdict = on_verdict
        self._client = client
        self._interval = interval
        self._fall = fall
        self._rise = rise
        self._lag_threshold = lag_threshold
        self._tracks: dict[ProbeTarget, _Track] = {}
        self.rounds = 0

    async def probe(self, target: ProbeTarget) -> ProbeVerdict:
        try:
            response = await self._client.get(target.url)
        except httpx.HTTPError as e:
            return judge(target, None, type(e).__name__, lag_threshold=self._lag_threshold)
        return judge(target, response, None, lag_threshold=self._lag_threshold)

    def observe(self, verdict: ProbeVerdict) -> ProbeVerdict | None:
        """Apply hysteresis; return the verdict when it becomes the committed one."""
        track = self._tracks.setdefault(verdict.target, _Track())
        track.last = verdict
        if track.committed is not None and verdict.key == track.committed.key:
            track.candidate, track.count = None, 0
            return None
        if verdict.key == track.candidate:
            track.count += 1
        else:
            track.candidate, track.count = verdict.key, 1
        # The first healthy answer commits at once: nothing to protect against on start.
        needed = self._rise if verdict.healthy else self._fall
        if (track.committed is None and verdict.healthy) or track.count >= needed:
            track.committed, track.candidate, track.count = verdict, None, 0
            return verdict
        return None

    async def run_once(self) -> None:
        targets = self._targets()
        verdicts = await asyncio.gather(*(self.probe(t) for t in targets))
        for verdict in verdicts:
            committed = self.observe(verdict)
            if committed is not None:
                self._on_verdict(committed)
        self.rounds += 1

    async def run(self) -> None:
        """Probe forever (until cancelled); one failing round never stops the loop."""
        while True:
            try:
                await self.run_once()
            except Exception:  # keep probing: a bug in one round must not blind the page
                log.exception("probe round failed")
            await asyncio.sleep(self._interval)
