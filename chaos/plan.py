"""A scenario resolved against a server: concrete proxies, processes, toxics and times.

Planning reads but never changes anything, and raises before a run touches anything when
a link glob matches no proxy, a targeted proxy's upstream is outside loopback, a toxic of
the same name is already on a proxy, or a process is missing from the deployment.
Without a server (``--dry-run`` offline) link patterns stay unresolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaos.adapter import ProxyState
from chaos.deployment import Deployment, ProcessRef
from chaos.errors import ChaosError, DeploymentError, ScenarioError, ToxiproxyError
from chaos.links import LinkMap
from chaos.safety import require_loopback_address
from chaos.scenario import (
    AddToxic,
    DisableLink,
    EnableLink,
    RemoveToxic,
    Scenario,
    StartProcess,
    StopProcess,
)
from chaos.toxics import ServerToxic, to_server_toxic

__all__ = ["Plan", "PlannedStep", "build_plan"]

MIN_INTERVAL_S = 0.2
Step = AddToxic | RemoveToxic | DisableLink | EnableLink | StopProcess | StartProcess


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One action at ``at_s`` seconds (already time-scaled) from the method's start."""

    index: int
    at_s: float
    action: Step
    proxies: tuple[str, ...] = ()
    process: ProcessRef | None = None
    toxic: ServerToxic | None = None
    resolved: bool = True

    @property
    def name(self) -> str:
        return self.action.action

    def targets(self) -> str:
        if self.process is not None:
            return self.process.label
        if isinstance(self.action, StopProcess | StartProcess):
            return f"{self.action.region}:{self.action.component}"
        if not self.resolved:
            return f"{self.action.links} (unresolved)"
        return ",".join(self.proxies)

    def describe(self) -> str:
        action = self.action
        if isinstance(action, AddToxic):
            t = action.toxic
            attrs = " ".join(f"{k}={v}" for k, v in sorted(t.attributes.items()))
            return (
                f"add_toxic {t.name} ({t.type} {t.stream} toxicity={t.toxicity:g}"
                f"{' ' + attrs if attrs else ''}) -> {self.targets()}"
            )
        if isinstance(action, RemoveToxic):
            return f"remove_toxic {action.toxic} <- {self.targets()}"
        if isinstance(action, StopProcess):
            return f"stop_process ({action.mode}) {self.targets()}"
        return f"{self.name} {self.targets()}"


@dataclass(frozen=True, slots=True)
class Plan:
    scenario: Scenario
    time_scale: float
    duration_s: float
    interval_s: float
    recovery_s: float
    steps: tuple[PlannedStep, ...]
    rollbacks: tuple[PlannedStep, ...]

    def lines(self) -> list[str]:
        """The timeline as text, one step a line (what ``--dry-run`` prints)."""
        out = [f"+{s.at_s:8.2f}s  {s.describe()}" for s in self.steps]
        out.append(f"+{self.duration_s:8.2f}s  end of method; roll back every fault left")
        out.extend(f"  rollback  {s.describe()}" for s in self.rollbacks)
        return out


def build_plan(
    scenario: Scenario,
    *,
    time_scale: float = 1.0,
    links: LinkMap | None = None,
    proxies: Mapping[str, ProxyState] | None = None,
    deployment: Deployment | None = None,
) -> Plan:
    """Resolve ``scenario``; see the module docstring for what it refuses.

    ``time_scale`` is how many of the scenario's nominal seconds play in one real second
    (10: ten times faster), the same meaning as ``chartguard load run --time-scale``.
    """
    if not time_scale > 0:
        raise ChaosError(f"--time-scale must be > 0, not {time_scale}")
    links = links or LinkMap()
    checked: set[str] = set()

    def resolve(where: str, pattern: str) -> tuple[tuple[str, ...], bool]:
        if proxies is None:
            return (pattern,), False
        matched = links.resolve(pattern, proxies)
        if not matched:
            names = (links.link_name(p) for p in proxies)
            known = ", ".join(sorted(n for n in names if n is not None)) or "none"
            raise ScenarioError(
                scenario.name, [f"{where}.links: {pattern!r} matches no proxy (links: {known})"]
            )
        for name in matched:
            if name not in checked:
                require_loopback_address(proxies[name].upstream, what=f"proxy {name} upstream")
                checked.add(name)
        return tuple(matched), True

    def process(where: str, region: str, component: str, *, kill: bool) -> ProcessRef | None:
        if deployment is None:
            if proxies is None:
                return None
            raise DeploymentError(f"{where}: needs --deployment to find {region}:{component}")
        ref = deployment.process(region, component)
        if kill and not ref.argv:
            raise DeploymentError(
                f"{where}: mode kill needs the command of {ref.label} in {deployment.path}"
            )
        return ref

    def plan_step(where: str, index: int, action: Step) -> PlannedStep:
        at_s = action.at / time_scale
        if isinstance(action, StopProcess | StartProcess):
            ref = process(
                where,
                action.region,
                action.component,
                kill=isinstance(action, StopProcess) and action.mode == "kill",
            )
            return PlannedStep(index, at_s, action, process=ref, resolved=ref is not None)
        targets, resolved = resolve(where, action.links)
        toxic = None
        if isinstance(action, AddToxic):
            t = action.toxic
            toxic = to_server_toxic(
                name=t.name,
                type=t.type,
                stream=t.stream,
                toxicity=t.toxicity,
                attributes=t.attributes,
            )
            if proxies is not None:
                for name in targets:
                    if any(x.name == t.name for x in proxies[name].toxics):
                        raise ToxiproxyError(
                            f"{where}: proxy {name!r} already has a toxic {t.name!r} "
                            "(left by an earlier run? `chartguard chaos rollback`)"
                        )
        return PlannedStep(index, at_s, action, targets, toxic=toxic, resolved=resolved)

    steps = tuple(plan_step(f"method[{i}]", i, a) for i, a in scenario.timeline())
    rollbacks = tuple(plan_step(f"rollbacks[{i}]", i, a) for i, a in enumerate(scenario.rollbacks))
    return Plan(
        scenario=scenario,
        time_scale=time_scale,
        duration_s=scenario.duration / time_scale,
        # A floor, so that a large --time-scale does not turn checks into a request flood.
        interval_s=max(scenario.hypothesis.interval_s / time_scale, MIN_INTERVAL_S),
        recovery_s=scenario.hypothesis.recovery_s / time_scale,
        steps=steps,
        rollbacks=rollbacks,
    )
