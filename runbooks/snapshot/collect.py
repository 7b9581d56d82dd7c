"""Gather what a practice needs to see its next days with the EHR down, through the EHR API.

It logs in as the practice's owner (or uses a token), reads each day's schedule and the
chart of every patient on it, and reduces them to what the offline viewer shows:
appointments, and per patient allergies, medications, recent labs and note summaries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import httpx

from runbooks.errors import RunbookError

NOTE_SUMMARY_CHARS = 280


@dataclass
class PracticeData:
    practice: str  # the practice's slug (not PHI)
    created: str  # ISO timestamp of the snapshot
    days: list[dict[str, Any]] = field(default_factory=list)
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {"days": self.days, "patients": self.patients}


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as e:
        raise RunbookError(f"EHR unreachable at {client.base_url}: {type(e).__name__}") from e
    if response.status_code != 200:
        # The EHR's error body never carries PHI; the path may hold an id, which is not PHI.
        raise RunbookError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
    return response.json()


def login(client: httpx.Client, email: str, password: str) -> str:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    if response.status_code != 200:
        raise RunbookError(f"login as {email} refused: HTTP {response.status_code}")
    return str(response.json()["token"])


def _patient_summary(chart: dict[str, Any]) -> dict[str, Any]:
    patient = chart["patient"]
    return {
        "name": f"{patient['given_name']} {patient['family_name']}",
        "birth_date": patient["birth_date"],
        "mrn": patient["mrn"],
        "allergies": [
            f"{a['substance']} ({a['severity']}{', ' + a['reaction'] if a.get('reaction') else ''})"
            for a in chart["allergies"]
        ],
        "medications": [
            " ".join(x for x in (m["name"], m.get("dose"), m.get("frequency")) if x)
            for m in chart["medications"]
            if m.get("active", True)
        ],
        "labs": [
            {
                "name": lab["name"],
                "value": f"{lab['value']:g} {lab['unit']}",
                "flag": "abnormal" if lab["abnormal"] else "",
                "date": lab["observed_at"][:10],
            }
            for lab in chart["recent_labs"]
        ],
        "notes": [
            {
                "date": e["started_at"][:10],
                "summary": (e.get("note") or "")[:NOTE_SUMMARY_CHARS],
            }
            for e in chart["recent_encounters"]
            if e.get("note")
        ],
    }


def collect_practice(
    client: httpx.Client, *, practice: str, start: dt.date, days: int, now: dt.datetime
) -> PracticeData:
    """Read ``days`` days of schedule from ``start`` and every scheduled patient's chart.

    ``client`` must already carry the owner's ``Authorization`` header.
    """
    if days < 1:
        raise RunbookError("days must be at least 1")
    data = PracticeData(practice=practice, created=now.isoformat(timespec="seconds"))
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        schedule = _get(client, "/api/v1/schedule", date=day.isoformat())
        appointments = []
        for item in schedule["items"]:
            appointments.append({
                "start_at": item["start_at"],
                "patient_name": f"{item['patient_given_name']} {item['patient_family_name']}",
                "provider_name": item["provider_name"],
                "reason": item.get("reason") or "",
                "status": item["status"],
                "patient_id": item["patient_id"],
            })
            key = str(item["patient_id"])
            if key not in data.patients:
                chart = _get(client, f"/api/v1/patients/{item['patient_id']}/chart")
                data.patients[key] = _patient_summary(chart)
        data.days.append({"date": day.isoformat(), "appointments": appointments})
    return data
