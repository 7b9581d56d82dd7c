"""Data the status service keeps and serves: component states, incidents, maintenance.

Pydantic models in a Base/Create/Public ladder; the store returns the ``*Public`` models
and the API accepts the ``*Create``/``*Update`` ones.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

COMPONENTS: tuple[str, ...] = ("edge", "app", "database", "replication")
"""The components every region has, in display order."""

_REGION_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class ComponentState(StrEnum):
    """A component's state, from best to worst (maintenance is outside the order)."""

    operational = "operational"
    degraded_performance = "degraded_performance"
    partial_outage = "partial_outage"
    major_outage = "major_outage"
    under_maintenance = "under_maintenance"

    @property
    def severity(self) -> int:
        """Rank used to pick the worst of several signals (maintenance ranks like degraded)."""
        return _SEVERITY[self]

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


_SEVERITY = {
    ComponentState.operational: 0,
    ComponentState.under_maintenance: 1,
    ComponentState.degraded_performance: 2,
    ComponentState.partial_outage: 3,
    ComponentState.major_outage: 4,
}


def worst(states: list[ComponentState]) -> ComponentState:
    """The most severe state of ``states`` (operational when empty)."""
    return max(states, key=lambda s: s.severity, default=ComponentState.operational)


class IncidentStatus(StrEnum):
    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"


def check_region(value: str) -> str:
    """Validate a region name (lowercase slug); raise ``ValueError`` naming the problem."""
    if not _REGION_RE.match(value):
        raise ValueError(f"region {value!r} must be a lowercase slug like 'east'")
    return value


def check_component(value: str) -> str:
    if value not in COMPONENTS:
        raise ValueError(f"component {value!r} must be one of {', '.join(COMPONENTS)}")
    return value


class ComponentRef(BaseModel):
    """One component of one region, written ``region/component`` in compact form."""

    region: str
    component: str

    _check_region = field_validator("region")(check_region)
    _check_component = field_validator("component")(check_component)

    @property
    def key(self) -> str:
        return f"{self.region}/{self.component}"

    @classmethod
    def parse(cls, value: str | dict[str, str] | ComponentRef) -> ComponentRef:
        """Accept ``"east/app"``, ``{"region": "east", "component": "app"}`` or a ref."""
        if isinstance(value, ComponentRef):
            return value
        if isinstance(value, dict):
            return cls.model_validate(value)
        region, sep, component = value.partition("/")
        if not sep:
            raise ValueError(f"component reference {value!r} must look like 'east/app'")
        return cls(region=region, component=component)


def _parse_refs(value: object) -> list[ComponentRef]:
    if not isinstance(value, list):
        raise ValueError("components must be a list like ['east/app']")
    return [ComponentRef.parse(v) for v in value]


RefList = Annotated[list[ComponentRef], Field(default_factory=list)]


class ComponentPublic(BaseModel):
    region: str
    component: str
    state: ComponentState
    automatic_state: ComponentState
    override: ComponentState | None = None
    override_message: str | None = None
    reasons: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None


class ComponentOverride(BaseModel):
    """An SRE's manual state for a component; it wins over alerts and probes until cleared."""

    state: ComponentState
    message: str = Field(default="", max_length=2000)


class IncidentUpdatePublic(BaseModel):
    id: int
    status: IncidentStatus
    message: str
    created_at: datetime
    author: str


class IncidentCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=5000)
    status: IncidentStatus = IncidentStatus.investigating
    components: RefList
    impact: ComponentState = ComponentState.degraded_performance

    _refs = field_validator("components", mode="before")(_parse_refs)


class IncidentUpdateCreate(BaseModel):
    status: IncidentStatus
    message: str = Field(min_length=1, max_length=5000)


class IncidentPublic(BaseModel):
    id: int
    title: str
    status: IncidentStatus
    impact: ComponentState
    source: str
    components: list[ComponentRef]
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    updates: list[IncidentUpdatePublic] = Field(default_factory=list)


class MaintenanceCreate(BaseModel):
    """A scheduled maintenance window, e.g. a database migration."""

    title: str = Field(default="Scheduled maintenance", min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=5000)
    starts_at: datetime
    ends_at: datetime
    components: RefList

    _refs = field_validator("components", mode="before")(_parse_refs)

    @model_validator(mode="after")
    def _window(self) -> MaintenanceCreate:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a timezone (e.g. 2025-01-01T02:00:00Z)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if not self.components:
            raise ValueError("components must name at least one component like 'east/database'")
        return self


class MaintenancePublic(BaseModel):
    id: int
    title: str
    message: str
    starts_at: datetime
    ends_at: datetime
    components: list[ComponentRef]
    completed_at: datetime | None = None
    created_at: datetime
    status: str = Field(description="scheduled, in_progress or completed")


class SubscriptionCreate(BaseModel):
    """A webhook subscriber; an empty component list means every component."""

    url: str = Field(min_length=1, max_length=2000)
    components: RefList
    secret: str | None = Field(default=None, min_length=16, max_length=200)

    _refs = field_validator("components", mode="before")(_parse_refs)


class SubscriptionPublic(BaseModel):
    id: int
    url: str
    components: list[ComponentRef]
    created_at: datetime
    last_delivery_at: datetime | None = None
    last_error: str | None = None


class SubscriptionCreated(SubscriptionPublic):
    """Returned once, on creation: the only time the signing secret is shown."""

    secret: str
