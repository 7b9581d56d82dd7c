"""Traffic profiles: who works at a practice, how busy they are, and how hard Monday hits.

A profile is a YAML file (see ``loadtests/profiles/default.yaml``)::

    practices: 60             # simulated practices, seeded as practice-0000 ...
    people:                   # per practice, by role
      front_desk: 3
      clinician: 4
      owner: 1
    actions_per_hour:         # API requests one person makes in an ordinary weekday hour
      front_desk: 90
      clinician: 60
      owner: 6
    monday_peak_factor: 2.5   # the Monday-morning peak is this many times the ordinary rate

Every simulated person works at the Monday pace (``actions_per_hour * monday_peak_factor``),
so the profile's peak request rate is what everybody of every practice generates together;
load shapes change how many people are at work, never how fast one of them clicks.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadtests.errors import ProfileError

__all__ = [
    "DEFAULT_PROFILE",
    "DEFAULT_TASK_MIX",
    "EndpointClass",
    "LatencyLimit",
    "Profile",
    "Role",
    "RoleCounts",
    "RoleRates",
    "Thresholds",
    "load_profile",
    "parse_profile",
]

DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "default.yaml"


class Role(StrEnum):
    """A simulated person's job; the seeded login is ``<role>{k}@practice-NNNN.test``."""

    front_desk = "front_desk"
    clinician = "clinician"
    owner = "owner"


# What each role does, and how often relative to its other tasks (a task is one or more
# requests; every request costs the person one think time). A profile's ``task_mix``
# overrides single weights; 0 turns a task off.
DEFAULT_TASK_MIX: dict[str, dict[str, int]] = {
    "front_desk": {
        "todays_schedule": 8,  # the day's schedule
        "check_in": 4,  # appointment -> arrived
        "lookup": 6,  # name search, then demographics
        "edit_demographics": 4,  # read, then PATCH with If-Match
        "register_walk_in": 1,  # new patient
    },
    "clinician": {
        "my_schedule": 2,
        "open_chart": 6,
        "labs": 3,
        "allergies_and_medications": 3,
        "order_review": 2,  # lab results to review
        "write_and_sign_note": 2,  # progress note: create, then sign
        "record_allergy": 1,
    },
    "owner": {
        "audit_view": 4,
        "export": 1,  # FHIR Bulk Data $export, then its status
        "practice_day": 2,  # the schedule
    },
}


class EndpointClass(StrEnum):
    """Endpoints are judged by class: a bulk export is not held to a chart read's latency."""

    auth = "auth"
    read = "read"
    write = "write"
    report = "report"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleCounts(_Strict):
    front_desk: int = Field(ge=0, le=1000)
    clinician: int = Field(ge=0, le=1000)
    owner: int = Field(ge=0, le=100)

    def of(self, role: Role) -> int:
        return int(getattr(self, role.value))


class RoleRates(_Strict):
    front_desk: float = Field(ge=0, le=36_000)
    clinician: float = Field(ge=0, le=36_000)
    owner: float = Field(ge=0, le=36_000)

    def of(self, role: Role) -> float:
        return float(getattr(self, role.value))


class LatencyLimit(_Strict):
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)


def _default_latency() -> dict[EndpointClass, LatencyLimit]:
    return {
        EndpointClass.auth: LatencyLimit(p99_ms=2000),
        EndpointClass.read: LatencyLimit(p95_ms=250, p99_ms=500),
        EndpointClass.write: LatencyLimit(p95_ms=250, p99_ms=500),
        EndpointClass.report: LatencyLimit(p99_ms=5000),
    }


class Thresholds(_Strict):
    """What a run must hold to pass (the exit code of ``chartguard load run``)."""

    # Failed requests / all requests over the whole run.
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    # Achieved / target request rate in the shape's measured (peak) window.
    min_achieved_ratio: float = Field(default=0.95, gt=0, le=1)
    latency_ms: dict[EndpointClass, LatencyLimit] = Field(default_factory=_default_latency)


class Profile(_Strict):
    """A validated traffic profile; build it with :func:`load_profile` or :func:`parse_profile`."""

    name: str = Field(default="profile", min_length=1, max_length=100)
    practices: int = Field(ge=1, le=100_000)
    # Index of the first simulated practice (lets two generators split the practices).
    first_practice: int = Field(default=0, ge=0)
    people: RoleCounts
    # How many logins of each role the seed created per practice; people beyond that share
    # a login (each person still has its own session). Defaults to ``people``.
    seeded_people: RoleCounts | None = None
    actions_per_hour: RoleRates
    monday_peak_factor: float = Field(ge=1, le=100)
    # {role: {task: weight}} over DEFAULT_TASK_MIX.
    task_mix: dict[Role, dict[str, int]] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    # At most this many people start (and sign in) per second. Real Monday arrivals are
    # spread over the morning; a time-compressed ramp would otherwise turn them into a
    # sign-in storm no real morning has (password checks are slow on purpose).
    sign_ins_per_second: float | None = Field(default=None, gt=0, le=1000)

    @model_validator(mode="after")
    def _someone_works(self) -> Profile:
        if self.peak_rate() <= 0:
            raise ValueError("no role has both people and actions_per_hour > 0")
        for role, weights in self.task_mix.items():
            known = DEFAULT_TASK_MIX[role.value]
            for name, weight in weights.items():
                if name not in known:
                    raise ProfileError(
                        f"task_mix.{role.value}.{name}",
                        f"unknown task; {role.value} does {', '.join(known)}",
                    )
                if weight < 0:
                    raise ProfileError(f"task_mix.{role.value}.{name}", "weight must be >= 0")
        for role in Role:
            if self.people.of(role) and not any(self.task_mix_of(role).values()):
                raise ProfileError(f"task_mix.{role.value}", "every task weight is 0")
        if self.seeded_people is not None:
            for role in Role:
                if self.people.of(role) > 0 and self.seeded_people.of(role) == 0:
                    raise ValueError(f"seeded_people.{role.value} is 0 but people.{role} > 0")
        return self

    def task_mix_of(self, role: Role) -> dict[str, int]:
        """``{task: weight}`` of a role: the defaults with the profile's overrides."""
        return {**DEFAULT_TASK_MIX[role.value], **self.task_mix.get(role, {})}

    def people_of(self, role: Role) -> int:
        """People of ``role`` across all practices."""
        return self.practices * self.people.of(role)

    def total_people(self) -> int:
        return sum(self.people_of(role) for role in Role)

    def seeded_of(self, role: Role) -> int:
        """Seeded logins of ``role`` per practice."""
        seeded = self.seeded_people or self.people
        return max(1, seeded.of(role))

    def user_rate(self, role: Role) -> float:
        """Requests per second one person of ``role`` makes at the Monday pace."""
        return self.actions_per_hour.of(role) * self.monday_peak_factor / 3600.0

    def peak_rate(self) -> float:
        """Requests per second of the Monday peak: every person at work, at the Monday pace."""
        return sum(self.people_of(role) * self.user_rate(role) for role in Role)

    def ordinary_rate(self) -> float:
        """Requests per second of an ordinary busy hour (the peak without the Monday factor)."""
        return self.peak_rate() / self.monday_peak_factor

    def practice_slug(self, index: int) -> str:
        """Slug of the ``index``-th simulated practice (wrapping over ``practices``)."""
        return f"practice-{self.first_practice + index % self.practices:04d}"

    def summary(self) -> dict[str, Any]:
        """The numbers a run report shows about its profile."""
        return {
            "name": self.name,
            "practices": self.practices,
            "people": {role.value: self.people_of(role) for role in Role},
            "peak_rate_rps": round(self.peak_rate(), 3),
            "ordinary_rate_rps": round(self.ordinary_rate(), 3),
            "monday_peak_factor": self.monday_peak_factor,
        }


def _field_of(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
    return ".".join(loc) or "(profile)"


def parse_profile(data: Any, *, source: str = "profile") -> Profile:
    """Validate already-parsed YAML data; raises :class:`ProfileError` naming the bad field."""
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ProfileError("(profile)", f"{source} must be a YAML mapping, not {kind}")
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        message = str(first.get("msg", "invalid"))
        raise ProfileError(_field_of(dict(first)), message) from e


def load_profile(path: str | Path = DEFAULT_PROFILE) -> Profile:
    """Read and validate a profile YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ProfileError("(file)", f"cannot read {path}: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ProfileError("(file)", f"{path} is not valid YAML: {e}") from e
    profile = parse_profile(data, source=str(path))
    if profile.name == "profile":
        profile = profile.model_copy(update={"name": path.stem})
    return profile
