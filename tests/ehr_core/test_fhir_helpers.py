"""Shared set-up for the FHIR, export and fuzz tests (this module holds no tests).

:func:`build_world` migrates a database, seeds two practices with the project's own
deterministic seeder, adds what the seeder leaves out (a draft note, an amendment of a
signed note, messages, an allergy without a reaction, a stopped medication), and opens a
session token for each role of each practice without going through argon2.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ehr_core import Database, Settings
from ehr_core.migrate import upgrade
from ehr_core.models import (
    Allergy,
    Appointment,
    AuthSession,
    Encounter,
    LabResult,
    Medication,
    Message,
    NoteAmendment,
    Patient,
    Practice,
    User,
)
from ehr_core.security import new_token, token_digest
from ehr_core.seed import seed

SEED_START = dt.date(2026, 3, 2)  # a Monday: the schedule is deterministic
PASSWORD = "chartguard-test-password"
ROLES = ("owner", "clinician1", "staff1")


@dataclass
class World:
    """Two seeded practices: ids, and a bearer token per ``"<role>@<practice index>"``."""

    settings: Settings
    practice_ids: list[int]
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def build_world(settings: Settings, *, patients: int = 12) -> World:
    """Migrate, seed two practices of ``patients`` patients, add extras, open tokens."""
    upgrade(settings)
    database = Database(settings)
    try:
        seed(database.engine, practices=2, patients=patients, password=PASSWORD, start=SEED_START)
        with database.transaction() as session:
            practice_ids = list(
                session.execute(select(Practice.id).order_by(Practice.id)).scalars()
            )
            world = World(settings=settings, practice_ids=practice_ids)
            for index, practice_id in enumerate(practice_ids):
                _extras(session, practice_id)
                for role in ROLES:
                    user = session.execute(
                        select(User).where(
                            User.practice_id == practice_id,
                            User.email == f"{role}@practice-{index:04d}.test",
                        )
                    ).scalar_one()
                    token = new_token()
                    session.add(
                        AuthSession(
                            user_id=user.id,
                            token_hash=token_digest(token),
                            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                        )
                    )
                    world.tokens[f"{role.rstrip('1')}@{index}"] = token
        return world
    finally:
        database.dispose()


def _extras(session: Any, practice_id: int) -> None:
    """Rows of every kind the seeder does not make, so every mapping path is exported."""
    patients = list(
        session.execute(
            select(Patient).where(Patient.practice_id == practice_id).order_by(Patient.id).limit(3)
        ).scalars()
    )
    owner = session.execute(
        select(User).where(User.practice_id == practice_id, User.role == "owner")
    ).scalar_one()
    signed = session.execute(
        select(Encounter)
        .where(Encounter.practice_id == practice_id, Encounter.status == "signed")
        .order_by(Encounter.id)
        .limit(1)
    ).scalar_one()
    now = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    session.add(
        NoteAmendment(
            practice_id=practice_id,
            encounter_id=signed.id,
            author_id=owner.id,
            text="Addendum: potassium rechecked, normal.",
            created_at=now,
        )
    )
    session.add(
        Encounter(
            practice_id=practice_id,
            patient_id=patients[0].id,
            provider_id=owner.id,
            started_at=now,
            note="Draft: cough for three days.",
            status="draft",
            created_at=now,
        )
    )
    for channel, status in (("sms", "sent"), ("email", "queued")):
        session.add(
            Message(
                practice_id=practice_id,
                patient_id=patients[1].id,
                sender_id=owner.id,
                channel=channel,
                body="Your lab results are ready; please call the office.",
                status=status,
                created_at=now,
            )
        )
    session.add(
        Allergy(
            practice_id=practice_id,
            patient_id=patients[2].id,
            substance="latex",
            reaction=None,
            severity="mild",
            recorded_at=now,
        )
    )
    session.add(
        Medication(
            practice_id=practice_id,
            patient_id=patients[2].id,
            name="amoxicillin",
            dose=None,
            frequency=None,
            active=False,
            started_on=None,
            recorded_at=now,
        )
    )


# Which tables hold each FHIR type's rows: written out here, independently of the catalog.
TABLES_PER_TYPE: dict[str, tuple[Any, ...]] = {
    "Patient": (Patient,),
    "Appointment": (Appointment,),
    "Encounter": (Encounter,),
    "DocumentReference": (Encounter, NoteAmendment),
    "Observation": (LabResult,),
    "AllergyIntolerance": (Allergy,),
    "MedicationStatement": (Medication,),
    "Communication": (Message,),
    "Practitioner": (User,),
    "Organization": (Practice,),
}


def expected_counts(settings: Settings, practice_id: int) -> dict[str, int]:
    """Rows per FHIR type of one practice, counted straight from the database tables."""
    database = Database(settings)
    try:
        with database.session() as session:
            counts: dict[str, int] = {}
            for name, models in TABLES_PER_TYPE.items():
                total = 0
                for model in models:
                    column = model.id if model is Practice else model.practice_id
                    total += session.execute(
                        select(func.count()).select_from(model).where(column == practice_id)
                    ).scalar_one()
                counts[name] = total
            return counts
    finally:
        database.dispose()


def wait_for_export(
    client: TestClient | httpx.Client, status_url: str, headers: dict[str, str], timeout: float
) -> httpx.Response:
    """Poll a status URL until it stops answering 202 (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(status_url, headers=headers)
        if resp.status_code != 202:
            return resp
        assert "X-Progress" in resp.headers
        if time.monotonic() > deadline:
            raise AssertionError(f"export still running after {timeout}s: {resp.headers}")
        time.sleep(0.05)
