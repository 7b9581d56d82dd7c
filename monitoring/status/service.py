"""The status service's domain logic: states, incidents, maintenance, subscriptions.

Inputs (alerts, probe verdicts, SRE actions) go through :class:`StatusService`, which
writes them to the store and publishes one event per visible change, so the page, the
SSE stream and webhook subscribers all see the same sequence.

A component's state is, in order of precedence: the SRE's override; ``under_maintenance``
during an active maintenance window that covers it; otherwise the worst of its automatic
signals (firing alerts and probe verdicts), ``operational`` when there are none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitoring.status.alerts import AlertSignal
from monitoring.status.events import EventBus
from monitoring.status.models import (
    COMPONENTS,
    ComponentOverride,
    ComponentPublic,
    ComponentRef,
    ComponentState,
    IncidentCreate,
    IncidentPublic,
    IncidentStatus,
    IncidentUpdateCreate,
    MaintenanceCreate,
    MaintenancePublic,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPublic,
    worst,
)
from monitoring.status.probes import ProbeVerdict
from monitoring.status.store import StatusStore
from monitoring.status.webhooks import check_subscriber_url, new_secret

AUTOMATION = "chartguard"


class StatusService:
    """Facade over the store that keeps component states and incidents consistent."""

    def __init__(
        self,
        *,
        store: StatusStore,
        bus: EventBus,
        regions: Callable[[], list[str]] = list,
        allow_remote_webhooks: bool = False,
    ) -> None:
        self.store = store
        self.bus = bus
        self._regions = regions
        self._allow_remote = allow_remote_webhooks

    # -- reading --------------------------------------------------------------------
    def components(self) -> list[ComponentPublic]:
        """Every component of every known region with its effective state and reasons."""
        signals = self.store.signals()
        overrides = self.store.overrides()
        active = [m for m in self.store.maintenance_windows() if m.status == "in_progress"]
        in_maintenance = {r.key for m in active for r in m.components}
        regions: dict[str, None] = dict.fromkeys(self._regions())
        for name in self.store.regions():
            regions.setdefault(name, None)
        for key in [*overrides, *in_maintenance]:
            regions.setdefault(key.split("/")[0], None)
        out = []
        for region in regions:
            for component in COMPONENTS:
                key = f"{region}/{component}"
                mine = [s for s in signals if s.region == region and s.component == component]
                automatic = worst([s.state for s in mine])
                reasons = [s.reason for s in mine if s.state is not ComponentState.operational]
                if key in in_maintenance:
                    automatic = ComponentState.under_maintenance
                    reasons.insert(0, "scheduled maintenance in progress")
                override = overrides.get(key)
                updated = max((s.updated_at for s in mine), default=None)
                out.append(ComponentPublic(
                    region=region,
                    component=component,
                    state=override[0].state if override else automatic,
                    automatic_state=automatic,
                    override=override[0].state if override else None,
                    override_message=override[0].message if override else None,
                    reasons=reasons,
                    updated_at=override[1] if override else updated,
                ))
        return out

    def summary(self) -> dict[str, Any]:
        """The whole picture in one JSON document (what the page and the EHR read)."""
        components = self.components()
        regions: dict[str, list[dict[str, Any]]] = {}
        for c in components:
            regions.setdefault(c.region, []).append(c.model_dump(mode="json"))
        maintenance = [m for m in self.store.maintenance_windows() if m.status != "completed"]
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "status": worst([c.state for c in components]).value,
            "regions": regions,
            "incidents": [i.model_dump(mode="json")
                          for i in self.store.incidents(open_only=True)],
            "maintenance": [m.model_dump(mode="json") for m in maintenance],
        }

    # -- change tracking ------------------------------------------------------------
    def _states(self) -> dict[str, ComponentPublic]:
        return {f"{c.region}/{c.component}": c for c in self.components()}

    def _publish_changes(self, before: dict[str, ComponentPublic]) -> None:
        for key, after in self._states().items():
            old = before.get(key)
            if old is None or old.state is not after.state:
                self.bus.publish(
                    "component.updated",
                    {"component": after.model_dump(mode="json"),
                     "previous_state": old.state.value if old else None},
                    (ComponentRef(region=after.region, component=after.component),),
                )

    def _publish_incident(self, kind: str, incident: IncidentPublic) -> None:
        self.bus.publish(f"incident.{kind}", {"incident": incident.model_dump(mode="json")},
                         tuple(incident.components))

    # -- automatic inputs -----------------------------------------------------------
    def apply_alerts(self, alerts: list[AlertSignal]) -> dict[str, int]:
        """Apply one Alertmanager webhook; idempotent for repeated notifications."""
        before = self._states()
        opened = resolved = 0
        for alert in alerts:
            if alert.firing:
                self.store.set_signal(source=alert.source, ref=alert.ref, state=alert.state,
                                      reason=f"alert {alert.name} firing")
                if self.store.open_incident_for(alert.source) is None:
                    incident = self.store.open_incident(
                        title=alert.title, message=alert.description, source=alert.source,
                        components=[alert.ref], impact=alert.state, author=AUTOMATION,
                    )
                    self._publish_incident("opened", incident)
                    opened += 1
            else:
                self.store.clear_signals(alert.source)
                found = self.store.open_incident_for(alert.source)
                if found is not None:
                    incident = self.store.add_update(
                        found.id, status=IncidentStatus.resolved, author=AUTOMATION,
                        message=f"Alert {alert.name} has stopped firing; resolved automatically.",
                    )
                    self._publish_incident("resolved", incident)
                    resolved += 1
        self._publish_changes(before)
        return {"received": len(alerts), "opened": opened, "resolved": resolved}

    def apply_probe(self, verdict: ProbeVerdict) -> None:
        """Record a committed probe verdict; probe outages open and close an incident too."""
        before = self._states()
        source = f"probe:{verdict.target.region}:{verdict.target.component}"
        for component, (state, reason) in verdict.states.items():
            self.store.set_signal(
                source=source,
                ref=ComponentRef(region=verdict.target.region, component=component),
                state=state, reason=reason,
            )
        incident = self.store.open_incident_for(source)
        if not verdict.healthy and incident is None:
            bad = sorted(((c, s, r) for c, (s, r) in verdict.states.items()
                          if s is not ComponentState.operational),
                         key=lambda item: -item[1].severity)
            impact = worst([s for _, s, _ in bad])
            if impact.severity >= ComponentState.partial_outage.severity:
                region = verdict.target.region
                incident = self.store.open_incident(
                    title=f"{region} region: {bad[0][0]} {impact.label.lower()}",
                    message=f"Detected by the status service's probe: {bad[0][2]}.",
                    source=source,
                    components=[ComponentRef(region=region, component=c) for c, _, _ in bad],
                    impact=impact, author=AUTOMATION,
                )
                self._publish_incident("opened", incident)
        elif verdict.healthy and incident is not None:
            incident = self.store.add_update(
                incident.id, status=IncidentStatus.resolved, author=AUTOMATION,
                message="Probes pass again; resolved automatically.",
            )
            self._publish_incident("resolved", incident)
        self._publish_changes(before)

    # -- SRE actions ----------------------------------------------------------------
    def override(self, ref: ComponentRef, override: ComponentOverride) -> ComponentPublic:
        before = self._states()
        self.store.set_override(ref, override)
        self._publish_changes(before)
        return self._states()[ref.key]

    def clear_override(self, ref: ComponentRef) -> ComponentPublic:
        before = self._states()
        self.store.clear_override(ref)
        self._publish_changes(before)
        return self._states()[ref.key]

    def create_incident(self, new: IncidentCreate, *, author: str) -> IncidentPublic:
        incident = self.store.open_incident(
            title=new.title, message=new.message, source="manual", components=new.components,
            impact=new.impact, status=new.status, author=author,
        )
        self._publish_incident("opened", incident)
        return incident

    def update_incident(self, incident_id: int, update: IncidentUpdateCreate, *,
                        author: str) -> IncidentPublic:
        incident = self.store.add_update(incident_id, status=update.status,
                                         message=update.message, author=author)
        kind = "resolved" if update.status is IncidentStatus.resolved else "updated"
        self._publish_incident(kind, incident)
        return incident

    def schedule_maintenance(self, window: MaintenanceCreate) -> MaintenancePublic:
        before = self._states()
        created = self.store.add_maintenance(window)
        self.bus.publish("maintenance.scheduled", {"maintenance": created.model_dump(mode="json")},
                         tuple(created.components))
        self._publish_changes(before)
        return created

    def complete_maintenance(self, window_id: int) -> MaintenancePublic:
        before = self._states()
        done = self.store.complete_maintenance(window_id)
        self.bus.publish("maintenance.completed", {"maintenance": done.model_dump(mode="json")},
                         tuple(done.components))
        self._publish_changes(before)
        return done

    def tick(self, previous: dict[str, ComponentPublic] | None) -> dict[str, ComponentPublic]:
        """Publish changes caused by time alone (a maintenance window starting or ending)."""
        if previous is not None:
            self._publish_changes(previous)
        return self._states()

    def subscribe(self, new: SubscriptionCreate) -> SubscriptionCreated:
        url = check_subscriber_url(new.url, allow_remote=self._allow_remote)
        secret = new.secret or new_secret()
        sub = self.store.add_subscription(url=url, components=new.components, secret=secret)
        return SubscriptionCreated(**sub.model_dump(), secret=secret)

    def subscriptions(self) -> list[SubscriptionPublic]:
        return [sub for sub, _ in self.store.subscriptions()]
