"""Alertmanager webhook (payload version 4) -> component signals.

Labels decide where an alert lands: ``region`` (missing -> ``global``), ``component``
(one of edge/app/database/replication; missing -> guessed from the alert name, else
``edge`` because the SLOs are measured at the edge) and ``severity`` (critical -> major
outage, page/error -> partial outage, anything else -> degraded performance). A
``status_state`` label or annotation sets the state exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitoring.status.errors import InvalidInput
from monitoring.status.models import COMPONENTS, ComponentRef, ComponentState

GLOBAL_REGION = "global"

_SEVERITY_STATE = {
    "critical": ComponentState.major_outage,
    "page": ComponentState.partial_outage,
    "error": ComponentState.partial_outage,
}
_NAME_HINTS = (
    ("replication", "replication"),
    ("lag", "replication"),
    ("database", "database"),
    ("postgres", "database"),
    ("db", "database"),
    ("readiness", "app"),
    ("ehr", "app"),
)


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None  # noqa: N815 - Alertmanager's field names
    endsAt: str | None = None  # noqa: N815
    fingerprint: str | None = None


class AlertmanagerPayload(BaseModel):
    """The body Alertmanager posts to a webhook receiver (``version: "4"``)."""

    model_config = ConfigDict(extra="allow")

    version: str = "4"
    status: Literal["firing", "resolved"] | None = None
    alerts: list[AlertmanagerAlert]


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """One alert, mapped onto the component it concerns."""

    fingerprint: str
    firing: bool
    ref: ComponentRef
    state: ComponentState
    name: str
    title: str
    description: str

    @property
    def source(self) -> str:
        return f"alert:{self.fingerprint}"


def parse_payload(body: bytes | str | dict[str, object]) -> list[AlertSignal]:
    """Validate an Alertmanager webhook body and map each alert; raise ``InvalidInput``."""
    try:
        if isinstance(body, dict):
            payload = AlertmanagerPayload.model_validate(body)
        else:
            payload = AlertmanagerPayload.model_validate_json(body)
    except ValidationError as e:
        fields = [".".join(str(p) for p in err["loc"]) for err in e.errors()]
        raise InvalidInput(
            f"not an Alertmanager v4 webhook payload (bad fields: {', '.join(fields)})",
            fields=fields,
        ) from e
    if payload.version != "4":
        raise InvalidInput(f"Alertmanager payload version {payload.version!r} is not '4'",
                           fields=["version"])
    return [map_alert(a) for a in payload.alerts]


def _fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def _component(labels: dict[str, str]) -> str:
    component = labels.get("component", "")
    if component in COMPONENTS:
        return component
    name = labels.get("alertname", "").lower()
    for hint, guess in _NAME_HINTS:
        if hint in name:
            return guess
    return "edge"


def _state(alert: AlertmanagerAlert) -> ComponentState:
    explicit = alert.labels.get("status_state") or alert.annotations.get("status_state")
    if explicit and explicit in ComponentState.__members__:
        return ComponentState(explicit)
    severity = alert.labels.get("severity", "").lower()
    return _SEVERITY_STATE.get(severity, ComponentState.degraded_performance)


def _region(labels: dict[str, str]) -> str:
    region = labels.get("region", "").strip().lower()
    try:
        return ComponentRef(region=region, component="app").region
    except ValidationError:
        return GLOBAL_REGION


def map_alert(alert: AlertmanagerAlert) -> AlertSignal:
    """Map one Alertmanager alert to an :class:`AlertSignal`."""
    name = alert.labels.get("alertname", "alert")[:100]
    region = _region(alert.labels)
    ref = ComponentRef(region=region, component=_component(alert.labels))
    state = _state(alert)
    title = alert.annotations.get("summary") or f"{name} in {region}"
    description = alert.annotations.get("description") or (
        f"Alert {name} is firing for {ref.key} (severity "
        f"{alert.labels.get('severity', 'unknown')})."
    )
    return AlertSignal(
        fingerprint=alert.fingerprint or _fingerprint(alert.labels),
        firing=alert.status == "firing",
        ref=ref,
        state=state,
        name=name,
        title=title[:200],
        description=description[:2000],
    )
