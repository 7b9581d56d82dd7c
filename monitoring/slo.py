"""The SLO spec model: ``slo.yaml`` loaded, validated and turned into PromQL.

Everything that needs an objective, a window or a burn rate reads it from here, so the
numbers live in ``slo.yaml`` only. Each SLI *source* knows how to express its error ratio
in PromQL for any window, overall or per region; the rule generator and the gate both
use those expressions, so what alerts and what gates is the same arithmetic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from monitoring.duration import format_duration, parse_duration
from monitoring.errors import SpecError

__all__ = [
    "Selector",
    "RatioSource",
    "LatencySource",
    "Indicator",
    "Objective",
    "BurnCondition",
    "AlertPolicy",
    "ComparisonPolicy",
    "GateThresholds",
    "NotifyTimings",
    "Profile",
    "SLOSpec",
    "load_spec",
    "DEFAULT_SPEC",
]

DEFAULT_SPEC = "slo.yaml"
_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.DOTALL)


def _to_seconds(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    return value


Seconds = Annotated[float, BeforeValidator(_to_seconds), Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _sum(expr: str, by: Sequence[str]) -> str:
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def _counted(selector: str, window: str, by: Sequence[str], whole: bool) -> str:
    """Events a counter saw over ``window``: a rate, or with ``whole`` a count that also
    includes series born inside the window.

    ``increase()`` cannot see a series' first value (a ``status="503"`` series that appears
    already at 2 adds nothing), so a short window with the first errors of their kind would
    read clean. ``whole`` adds the first value of every series absent ``window`` ago.
    """
    if not whole:
        return _sum(f"rate({selector}[{window}])", by)
    first = f"min_over_time({selector}[{window}])"  # a counter's first value in the window
    # Per series: the first value when the series is absent `window` ago, else 0. Built so
    # every series with samples in the window has a value (a `+` would drop it otherwise),
    # also one that has gone stale since (a region that crashed mid-window).
    born = f"(({first} unless {selector} offset {window}) or {first} * 0)"
    return _sum(f"increase({selector}[{window}]) + {born}", by)


def _le_matcher(threshold: float) -> str:
    # Python clients write le="0.5" / le="1.0", Go clients le="1": match both spellings.
    text = repr(float(threshold))
    if text.endswith(".0"):
        return f'le=~"{text[:-2]}(\\\\.0)?"'
    return f'le="{text}"'


class Selector(_Model):
    """A metric name with optional label matchers, e.g. ``x_total{code="5xx"}``."""

    metric: str
    matchers: str = ""

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = _SELECTOR.match(value)
            if not m:
                raise ValueError(f"not a metric selector: {value!r}")
            return {"metric": m.group(1), "matchers": (m.group(2) or "").strip()}
        return value

    def render(self, *, suffix: str = "", extra: str = "") -> str:
        """PromQL for this selector, its metric name suffixed and ``extra`` matchers added."""
        matchers = ",".join(part for part in (self.matchers, extra) if part)
        return f"{self.metric}{suffix}{{{matchers}}}" if matchers else f"{self.metric}{suffix}"


class RatioSource(_Model):
    """An SLI measured as bad events over all events, both counters."""

    source: str
    total: Selector
    bad: Selector

    def requests(self, window: str, by: Sequence[str] = (), whole: bool = False) -> str:
        """Events per second over ``window`` (with ``whole``: events in it, see _counted)."""
        return _counted(self.total.render(), window, by, whole)

    def error_ratio(
        self, window: str, by: Sequence[str] = (), threshold: float = 0.0, whole: bool = False
    ) -> str:
        """Bad over total over ``window``; 0 (not empty) when no bad series exists yet."""
        total = self.requests(window, by, whole)
        bad = _counted(self.bad.render(), window, by, whole)
        # A counter of errors is often absent until the first error; `or 0 * total` keeps
        # the ratio defined (0) wherever there is traffic, and empty where there is none.
        return f"({bad} or 0 * {total}) / {total}"


class LatencySource(_Model):
    """An SLI measured on a Prometheus histogram: slower than the threshold is bad."""

    source: str
    histogram: Selector

    def requests(self, window: str, by: Sequence[str] = (), whole: bool = False) -> str:
        """Observations per second over ``window`` (with ``whole``: observations in it)."""
        return _counted(self.histogram.render(suffix="_count"), window, by, whole)

    def error_ratio(
        self, window: str, by: Sequence[str] = (), threshold: float = 0.0, whole: bool = False
    ) -> str:
        """Share of observations above ``threshold`` seconds (which must be a bucket bound)."""
        le = _le_matcher(threshold)
        good = _counted(self.histogram.render(suffix="_bucket", extra=le), window, by, whole)
        return f"1 - {good} / {self.requests(window, by, whole)}"

    def mean(self, window: str, by: Sequence[str] = ()) -> str:
        """Mean observation (seconds) over ``window``."""
        total = _sum(f"rate({self.histogram.render(suffix='_sum')}[{window}])", by)
        return f"{total} / {self.requests(window, by)}"

    def quantile(self, q: float, window: str, by: Sequence[str] = ()) -> str:
        """The ``q`` quantile (seconds) over ``window``, interpolated within buckets."""
        bucket = f"rate({self.histogram.render(suffix='_bucket')}[{window}])"
        return f"histogram_quantile({q}, {_sum(bucket, ('le', *by))})"


Source = RatioSource | LatencySource


class Indicator(_Model):
    """Where an SLI is measured: overall (sources in order of preference), per region, client."""

    kind: Literal["ratio", "latency"]
    overall: list[RatioSource | LatencySource] = Field(min_length=1)
    per_region: RatioSource | LatencySource | None = None
    client: RatioSource | LatencySource | None = None

    @model_validator(mode="after")
    def _kinds_match(self) -> Indicator:
        want = RatioSource if self.kind == "ratio" else LatencySource
        for source in (*self.overall, self.per_region, self.client):
            if source is not None and not isinstance(source, want):
                raise ValueError(
                    f"source {source.source!r} does not fit kind {self.kind!r} "
                    f"({'total + bad' if self.kind == 'ratio' else 'histogram'} expected)"
                )
        return self


class Objective(_Model):
    """One SLO: a target share of good events, measured by an indicator."""

    name: str = ""
    display_name: str = Field("", alias="displayName")
    description: str = ""
    target: float = Field(gt=0, lt=1)
    threshold: Seconds | None = None
    indicator: Indicator

    @model_validator(mode="after")
    def _threshold_for_latency(self) -> Objective:
        if self.indicator.kind == "latency" and self.threshold is None:
            raise ValueError("a latency objective needs a threshold (e.g. 500ms)")
        if self.indicator.kind == "ratio" and self.threshold is not None:
            raise ValueError("threshold only applies to latency objectives")
        return self

    @property
    def budget(self) -> float:
        """The error budget as a ratio (0.001 for 99.9%), rounded clean of float noise."""
        return float(f"{1 - self.target:.12g}")

    def error_ratio(
        self, source: Source, window: str, by: Sequence[str] = (), whole: bool = False
    ) -> str:
        """PromQL error ratio of ``source`` for this objective over ``window``.

        Rules use rates; the gate passes ``whole`` to also count series born in the window.
        """
        return source.error_ratio(window, by, self.threshold or 0.0, whole)

    def overall_error_ratio(self, window: str, whole: bool = False) -> str:
        """The overall error ratio, falling back from one source to the next with ``or``."""
        parts = [f"({self.error_ratio(s, window, (), whole)})" for s in self.indicator.overall]
        return " or ".join(parts)


class BurnCondition(_Model):
    """Error ratio above ``burn_rate`` x budget over both the long and the short window."""

    burn_rate: float = Field(gt=0)
    long: Seconds
    short: Seconds

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnCondition:
        if self.short >= self.long:
            raise ValueError("short window must be shorter than long window")
        return self


class AlertPolicy(_Model):
    """The conditions that raise an alert of one severity."""

    severity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    conditions: list[BurnCondition] = Field(min_length=1)


class ComparisonPolicy(_Model):
    """How the gate compares a window with a baseline window."""

    alpha: float = Field(gt=0, lt=1)
    min_effect: float = Field(ge=0)
    #: ... and at least this much worse in absolute terms (seconds, for latency).
    min_delta: Annotated[float, BeforeValidator(_to_seconds), Field(ge=0)] = 0.0
    min_samples: int = Field(ge=3)


class GateThresholds(_Model):
    """The gate's thresholds beyond the SLOs themselves."""

    max_lost_writes: int = Field(ge=0)
    max_corrupted_writes: int = Field(ge=0)
    max_replication_lag: Seconds
    max_rto: Seconds
    max_rpo_writes: int = Field(ge=0)
    comparison: ComparisonPolicy


class NotifyTimings(_Model):
    """Alertmanager grouping timings for a profile."""

    group_wait: Seconds
    group_interval: Seconds
    repeat_interval: Seconds


class Profile(_Model):
    """A time scale: windows divided by ``factor``, never below ``min_window``."""

    name: str = ""
    factor: float = Field(ge=1)
    min_window: Seconds
    evaluation_interval: Seconds | None = None
    step: Seconds
    notify: NotifyTimings

    def scale(self, seconds: float) -> float:
        """``seconds`` on this profile's clock (whole seconds, at least ``min_window``)."""
        return max(self.min_window, float(max(1, round(seconds / self.factor))))

    def window(self, seconds: float) -> str:
        """A Prometheus duration for a standard window of ``seconds`` on this profile."""
        return format_duration(self.scale(seconds))


class SLOSpec(_Model):
    """The whole ``slo.yaml``."""

    api_version: str = Field(alias="apiVersion", pattern=r"^chartguard/v1$")
    kind: Literal["SLOSpec"]
    metadata: dict[str, str] = Field(default_factory=dict)
    period: Seconds
    windows: list[Seconds] = Field(min_length=1)
    region_label: str = Field("region", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    objectives: dict[str, Objective] = Field(min_length=1)
    alerts: list[AlertPolicy] = Field(min_length=1)
    gate: GateThresholds
    profiles: dict[str, Profile] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _name_children(cls, data: Any) -> Any:
        # Objectives and profiles are keyed by name in YAML; give each its own name.
        if isinstance(data, dict):
            data = dict(data)
            for key in ("objectives", "profiles"):
                items = data.get(key)
                if isinstance(items, dict):
                    data[key] = {
                        name: {**value, "name": name} if isinstance(value, dict) else value
                        for name, value in items.items()
                    }
        return data

    @model_validator(mode="after")
    def _consistent(self) -> SLOSpec:
        for name in self.objectives:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"objective name {name!r} must be lower_snake_case")
        for policy in self.alerts:
            for cond in policy.conditions:
                for w in (cond.long, cond.short):
                    if w not in self.windows:
                        raise ValueError(
                            f"alert window {format_duration(w)} ({policy.severity}) "
                            "is not in windows"
                        )
        if len({p.severity for p in self.alerts}) != len(self.alerts):
            raise ValueError("alerts: each severity may appear once")
        if "standard" not in self.profiles:
            raise ValueError("profiles: a 'standard' profile is required")
        return self

    def profile(self, name: str) -> Profile:
        """The named profile; :class:`SpecError` listing the known ones otherwise."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise SpecError(f"unknown profile {name!r} (known: {known})") from None

    def objective(self, name: str) -> Objective:
        """The named objective; :class:`SpecError` listing the known ones otherwise."""
        try:
            return self.objectives[name]
        except KeyError:
            known = ", ".join(sorted(self.objectives))
            raise SpecError(f"unknown objective {name!r} (known: {known})") from None

    @property
    def severities(self) -> list[str]:
        """Severities from the most to the least urgent (their order in ``alerts``)."""
        return [p.severity for p in self.alerts]


def _describe(error: ValidationError) -> str:
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"] if not str(p).startswith(("function-", "union")))
        lines.append(f"{where or '(top level)'}: {e['msg']}")
    return "; ".join(lines)


def load_spec(path: Path | str | None = None) -> SLOSpec:
    """Load and validate an SLO spec (the packaged ``slo.yaml`` by default).

    Raises :class:`SpecError` naming the file and each invalid field.
    """
    if path is None:
        text = resources.files("monitoring").joinpath(DEFAULT_SPEC).read_text(encoding="utf-8")
        where = f"monitoring/{DEFAULT_SPEC}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"{where}: cannot read SLO spec ({e.strerror})") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{where}: not valid YAML ({e})") from e
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping at the top level")
    try:
        spec = SLOSpec.model_validate(data)
    except ValidationError as e:
        raise SpecError(f"{where}: {_describe(e)}") from e
    for obj in spec.objectives.values():
        if obj.threshold is not None and not math.isfinite(obj.threshold):
            raise SpecError(f"{where}: objectives.{obj.name}.threshold must be finite")
    return spec
