"""Scenario files: the model, loading and validation.

A scenario names the real-world condition it models, states a steady-state hypothesis
(probes with tolerances) and a method: a timeline of actions at offsets in seconds from
the start, plus explicit rollbacks. Validation collects every problem, each prefixed with
the path of the bad field (``method[2].toxic.attributes.latency: must be an integer >= 0``),
and never touches a server.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chaos.errors import ScenarioError
from chaos.toxics import TOXIC_TYPES

__all__ = [
    "Action",
    "AddToxic",
    "DisableLink",
    "EnableLink",
    "HttpProbe",
    "Hypothesis",
    "Phase",
    "Probe",
    "PrometheusProbe",
    "RemoveToxic",
    "RollbackAction",
    "Scenario",
    "StartProcess",
    "StopProcess",
    "ToxicSpec",
    "load_scenario",
    "parse_scenario",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Phase(StrEnum):
    """When the hypothesis is checked."""

    BEFORE = "before"
    DURING = "during"
    AFTER = "after"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ProbeBase(_Model):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    when: frozenset[Phase] = frozenset(Phase)


class HttpProbe(_ProbeBase):
    """An HTTP request through ``url``: status in ``expect_status`` and latency bound."""

    type: Literal["http"]
    url: str
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: Annotated[list[Annotated[int, Field(ge=100, le=599)]], Field(min_length=1)] = [
        200
    ]
    max_latency_ms: Annotated[float, Field(gt=0)] | None = None


_CONSTANT_FALLBACK = re.compile(r"\bor\b(\s+on\s*\([^)]*\))?\s*(vector|scalar)\s*\(", re.I)


class PrometheusProbe(_ProbeBase):
    """A Prometheus instant query whose (single) value must lie within ``[min, max]``.

    A query that answers nothing fails the probe, so a dead exporter is never a healthy
    reading; a constant fallback (``... or vector(0)``) would turn it into one and is
    refused.
    """

    type: Literal["prometheus"]
    url: str = "${prometheus}"
    query: Annotated[str, Field(min_length=1)]
    min: float | None = None
    max: float | None = None

    @field_validator("query")
    @classmethod
    def _no_constant_fallback(cls, query: str) -> str:
        if _CONSTANT_FALLBACK.search(query):
            raise ValueError(
                "must not fall back to a constant (`or vector(...)`): an absent metric "
                "(a dead exporter, no scrape) must fail the probe, not read as healthy"
            )
        return query


Probe = Annotated[HttpProbe | PrometheusProbe, Field(discriminator="type")]


class Hypothesis(_Model):
    """The steady state: every probe within tolerance.

    ``interval_s`` paces the checks during the method; after the rollback the hypothesis
    is checked until it holds or ``recovery_s`` has passed (both scale with the run).
    """

    title: Annotated[str, Field(min_length=1)]
    probes: Annotated[list[Probe], Field(min_length=1)]
    interval_s: Annotated[float, Field(gt=0)] = 10.0
    recovery_s: Annotated[float, Field(ge=0)] = 0.0


class ToxicSpec(_Model):
    """A toxic to add: ``type`` from :data:`chaos.toxics.TOXIC_TYPES`."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    type: str
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: Annotated[float, Field(ge=0, le=1)] = 1.0
    attributes: dict[str, Any] = {}


class _Step(_Model):
    at: Annotated[float, Field(ge=0)] = 0.0


class AddToxic(_Step):
    """Add ``toxic`` to every link matching ``links`` (a name or a glob)."""

    action: Literal["add_toxic"]
    links: Annotated[str, Field(min_length=1)]
    toxic: ToxicSpec


class RemoveToxic(_Step):
    """Remove the toxic named ``toxic`` from every link matching ``links``."""

    action: Literal["remove_toxic"]
    links: Annotated[str, Field(min_length=1)]
    toxic: Annotated[str, Field(pattern=NAME_PATTERN)]


class DisableLink(_Step):
    """Disable the links (a partition: connections dropped, nothing listens)."""

    action: Literal["disable_link"]
    links: Annotated[str, Field(min_length=1)]


class EnableLink(_Step):
    action: Literal["enable_link"]
    links: Annotated[str, Field(min_length=1)]


class StopProcess(_Step):
    """Stop a region's component from deployment.json: ``freeze`` (SIGSTOP) or ``kill``."""

    action: Literal["stop_process"]
    region: Annotated[str, Field(pattern=NAME_PATTERN)]
    component: Annotated[str, Field(pattern=NAME_PATTERN)] = "ehr"
    mode: Literal["freeze", "kill"] = "freeze"


class StartProcess(_Step):
    """Undo a stop_process of the same region and component."""

    action: Literal["start_process"]
    region: Annotated[str, Field(pattern=NAME_PATTERN)]
    component: Annotated[str, Field(pattern=NAME_PATTERN)] = "ehr"


Action = Annotated[
    AddToxic | RemoveToxic | DisableLink | EnableLink | StopProcess | StartProcess,
    Field(discriminator="action"),
]
RollbackAction = Annotated[RemoveToxic | EnableLink | StartProcess, Field(discriminator="action")]
ACTION_NAMES = frozenset(
    ["add_toxic", "remove_toxic", "disable_link", "enable_link", "stop_process", "start_process"]
)


class Scenario(_Model):
    """A validated scenario; ``name`` comes from the file name."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    title: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]
    models: Annotated[str, Field(min_length=1)]
    duration: Annotated[float, Field(gt=0)]
    hypothesis: Hypothesis
    method: Annotated[list[Action], Field(min_length=1)]
    rollbacks: list[RollbackAction] = []

    def timeline(self) -> list[tuple[int, Action]]:
        """The method's steps with their index, ordered by offset (stable for ties)."""
        return sorted(enumerate(self.method), key=lambda pair: pair[1].at)


def _loc(loc: tuple[int | str, ...]) -> str:
    """``('method', 2, 'add_toxic', 'toxic')`` -> ``method[2].toxic`` (drops union tags)."""
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(previous, int) and (part in ACTION_NAMES or part in ("http", "prometheus")):
            pass
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "(top level)"


_MESSAGES = [
    (re.compile(r"^Value error, (.*)$", re.S), r"\1"),
    (re.compile(r"^Field required$"), "is required"),
    (re.compile(r"^Extra inputs are not permitted$"), "is not a known field"),
    (re.compile(r"^Input should be greater than or equal to (.*)$"), r"must be >= \1"),
    (re.compile(r"^Input should be greater than (.*)$"), r"must be > \1"),
    (re.compile(r"^Input should be less than or equal to (.*)$"), r"must be <= \1"),
    (re.compile(r"^Input should be a valid (.*)$"), r"must be a valid \1"),
    (re.compile(r"^Input should be (.*)$"), r"must be \1"),
    (re.compile(r"^String should match pattern (.*)$"), r"must match \1"),
    (
        re.compile(r"^List should have at least (\d+) items? after validation.*$"),
        r"needs at least \1 item(s)",
    ),
]


def _message(msg: str) -> str:
    for pattern, replacement in _MESSAGES:
        if pattern.match(msg):
            return pattern.sub(replacement, msg)
    return msg


def _problem(err: Any) -> str:
    """One pydantic error as ``path: message``; union tags become ``path.action: ...``."""
    loc = _loc(err["loc"])
    ctx = err.get("ctx") or {}
    if err["type"] == "union_tag_invalid":
        field = str(ctx.get("discriminator", "")).strip("'")
        expected = ctx.get("expected_tags", "")
        return f"{loc}.{field}: {ctx.get('tag')!r} is unknown; expected one of {expected}"
    if err["type"] == "union_tag_not_found":
        return f"{loc}.{str(ctx.get('discriminator', '')).strip(chr(39))}: is required"
    return f"{loc}: {_message(err['msg'])}"


def _semantic_problems(s: Scenario) -> list[str]:
    """Problems pydantic cannot see: toxic attributes, offsets, name references."""
    problems: list[str] = []
    added: dict[str, float] = {}
    for i, step in enumerate(s.method):
        where = f"method[{i}]"
        if step.at > s.duration:
            problems.append(f"{where}.at: {step.at:g} is after the duration {s.duration:g}")
        if isinstance(step, AddToxic):
            spec = TOXIC_TYPES.get(step.toxic.type)
            if spec is None:
                known = ", ".join(TOXIC_TYPES)
                problems.append(f"{where}.toxic.type: unknown toxic {step.toxic.type!r} ({known})")
            else:
                for key, value in step.toxic.attributes.items():
                    attribute = spec.attribute(key)
                    if attribute is None:
                        known_attrs = ", ".join(a.name for a in spec.attributes)
                        problems.append(
                            f"{where}.toxic.attributes.{key}: not an attribute of "
                            f"{spec.name} ({known_attrs})"
                        )
                    elif (why := attribute.check(value)) is not None:
                        problems.append(f"{where}.toxic.attributes.{key}: {why}")
            if step.toxic.name in added:
                problems.append(f"{where}.toxic.name: {step.toxic.name!r} is added twice")
            added[step.toxic.name] = step.at
        elif isinstance(step, RemoveToxic):
            if step.toxic not in added and not any(
                isinstance(later, AddToxic) and later.toxic.name == step.toxic for later in s.method
            ):
                problems.append(f"{where}.toxic: no add_toxic step adds {step.toxic!r}")
            elif step.toxic in added and step.at < added[step.toxic]:
                problems.append(f"{where}.at: removes {step.toxic!r} before it is added")
    for i, rollback in enumerate(s.rollbacks):
        if isinstance(rollback, RemoveToxic) and not any(
            isinstance(step, AddToxic) and step.toxic.name == rollback.toxic for step in s.method
        ):
            problems.append(f"rollbacks[{i}].toxic: no add_toxic step adds {rollback.toxic!r}")
    names = [p.name for p in s.hypothesis.probes]
    for i, name in enumerate(names):
        if names.index(name) != i:
            problems.append(f"hypothesis.probes[{i}].name: {name!r} is used twice")
    for i, probe in enumerate(s.hypothesis.probes):
        if isinstance(probe, PrometheusProbe) and probe.min is None and probe.max is None:
            problems.append(f"hypothesis.probes[{i}]: a prometheus probe needs min or max")
        if (
            isinstance(probe, PrometheusProbe)
            and probe.min is not None
            and probe.max is not None
            and probe.min > probe.max
        ):
            problems.append(f"hypothesis.probes[{i}].min: greater than max")
    return problems


def parse_scenario(data: object, *, name: str, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed YAML/JSON ``data``; raise :class:`ScenarioError` naming fields."""
    if not isinstance(data, dict):
        raise ScenarioError(source, ["(top level): must be a mapping of fields"])
    if "name" in data:
        raise ScenarioError(source, ["name: is not a known field (the file name is the name)"])
    try:
        scenario = Scenario.model_validate({**data, "name": name})
    except ValidationError as e:
        problems = [_problem(err) for err in e.errors()]
        raise ScenarioError(source, problems) from e
    problems = _semantic_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; its stem is the scenario's name."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(str(path), [f"cannot read: {e.strerror}"]) from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(top level)"
        raise ScenarioError(str(path), [f"{where}: not valid YAML"]) from e
    return parse_scenario(data, name=path.stem, source=str(path))
