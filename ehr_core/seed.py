"""Deterministic synthetic practices for demos, tests and load rehearsals.

Same ``seed`` and ``start`` -> the same rows, byte for byte. Practice *i* gets the slug
``practice-{i:04d}`` and the users ``owner@practice-{i:04d}.test``,
``clinician{k}@...``, ``staff{k}@...`` (docs/interfaces.md), all with one password whose
argon2 hash is computed once. Rows go in with bulk statements: ``COPY`` on PostgreSQL,
``executemany`` on SQLite, never the ORM one by one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Table, func, insert, select, text

from ehr_core.audit import GENESIS
from ehr_core.errors import BadRequest
from ehr_core.models import Base, Practice
from ehr_core.security import hash_password

GIVEN = (
    "Ada Alan Amara Ben Chloe Dmitri Elena Farah Grace Hiro Ines Jonas Kofi Lena Mateo Nadia "
    "Omar Priya Quinn Rosa Samir Tara Umar Vera Wen Xavier Yara Zane Alma Bruno Clara Diego "
    "Esme Felix Gita Hugo Ivy Jade Karl Luz Milo Nina Otto Pia Rafael Sofia Theo Uma Viktor"
).split()
FAMILY = (
    "Abbott Baker Castro Dubois Evans Fischer Garcia Haddad Ibrahim Jensen Kowalski Larsen "
    "Moreau Nakamura Okafor Petrov Quispe Rossi Schmidt Tanaka Urban Varga Weber Xu Yilmaz "
    "Zhang Alvarez Becker Chen Dalton Eriksen Ferreira Gallagher Horvat Ito Jovanovic Kim "
    "Lindqvist Mendes Novak Oliveira Popescu Reyes Silva Torres Ueda Vasquez Walsh Young"
).split()
STREETS = "Oak Maple Cedar Elm Pine Birch Willow Spruce Ash Linden".split()
REASONS = (
    "annual physical",
    "follow-up",
    "blood pressure check",
    "diabetes review",
    "cough",
    "back pain",
    "medication review",
    "skin rash",
    "vaccination",
    "lab results discussion",
)
# (LOINC, name, unit, low, high, mean, sd)
LABS = (
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70.0, 99.0, 95.0, 18.0),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, 5.7, 0.9),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 4.3, 0.5),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 136.0, 145.0, 140.0, 3.0),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.2, 0.95, 0.25),
    (
        "13457-7",
        "Cholesterol in LDL [Mass/volume] in Serum or Plasma",
        "mg/dL",
        None,
        100.0,
        110.0,
        30.0,
    ),
    ("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L", 0.4, 4.0, 2.0, 1.1),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.5, 14.2, 1.5),
)
ALLERGENS = (
    ("Penicillin", "hives"),
    ("Peanut", "anaphylaxis"),
    ("Latex", "contact dermatitis"),
    ("Sulfonamides", "rash"),
    ("Shellfish", "swelling"),
    ("Aspirin", "wheezing"),
)
MEDS = (
    ("Metformin", "500 mg", "twice daily"),
    ("Lisinopril", "10 mg", "once daily"),
    ("Atorvastatin", "20 mg", "once daily at night"),
    ("Levothyroxine", "50 mcg", "once daily"),
    ("Amlodipine", "5 mg", "once daily"),
    ("Omeprazole", "20 mg", "once daily before breakfast"),
    ("Sertraline", "50 mg", "once daily"),
)
NOTE = (
    "S: {reason}. Feels generally well. O: BP {sys}/{dia}, HR {hr}. "
    "A: stable. P: continue current plan, follow up in {weeks} weeks."
)
SCHEDULE_DAYS = 5
# Practice i gets TIMEZONES[i % len]; clinic hours are local.
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
)
_T = Base.metadata.tables
# Parents before children (foreign keys).
TABLE_ORDER = (
    "practices",
    "users",
    "patients",
    "appointments",
    "encounters",
    "lab_results",
    "allergies",
    "medications",
    "audit_heads",
)
SLOT = dt.timedelta(minutes=20)
DAY_START = dt.time(8, 0)


@dataclasses.dataclass(slots=True)
class SeedResult:
    practices: int = 0
    users: int = 0
    patients: int = 0
    appointments: int = 0
    encounters: int = 0
    labs: int = 0
    allergies: int = 0
    medications: int = 0
    seconds: float = 0.0
    start: dt.date | None = None
    kept: int = 0  # practices that already existed and were left as they are


@dataclasses.dataclass(slots=True)
class _Rows:
    """Rows per table, in insert order (parents before children)."""

    tables: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.tables.setdefault(table.name, []).append(row)


class _Ids:
    """Explicit ids continuing after what the database already holds."""

    def __init__(self, engine: Engine, tables: Sequence[Table]) -> None:
        self.next: dict[str, int] = {}
        with engine.connect() as conn:
            for table in tables:
                col = table.c.practice_id if table.name == "audit_heads" else table.c.id
                current = conn.execute(select(func.max(col))).scalar()
                self.next[table.name] = int(current or 0) + 1

    def take(self, table: Table) -> int:
        value = self.next[table.name]
        self.next[table.name] = value + 1
        return value


def _providers_for(patients: int) -> int:
    """Clinicians besides the owner: one per ~500 patients, at least one, at most five."""
    return max(1, min(5, patients // 500))


def _utc(day: dt.date, at: dt.time, zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """``at`` o'clock on ``day`` in ``zone``, as an aware UTC datetime."""
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)


def seed(
    engine: Engine,
    *,
    practices: int,
    patients: int,
    seed: int = 1,
    password: str,
    start: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Insert ``practices`` synthetic practices with ``patients`` patients each.

    The schedule covers ``SCHEDULE_DAYS`` days from ``start`` (default: today, UTC).
    Practices that already exist (e.g. the demo practice ``chartguard ehr serve`` puts into
    an empty database) are kept as they are and counted in ``SeedResult.kept``; the others
    are added, each exactly as a fresh seed would make it. Refuses (and changes nothing)
    when every practice asked for already exists.
    """
    if practices < 1 or patients < 1:
        raise BadRequest("--practices and --patients must be at least 1")
    started = time.monotonic()
    start = start or dt.datetime.now(dt.UTC).date()
    slugs = [f"practice-{i:04d}" for i in range(practices)]
    tables = [_T[name] for name in TABLE_ORDER]
    with engine.connect() as conn:
        existing = set(conn.scalars(select(Practice.slug).where(Practice.slug.like("practice-%"))))
    kept = [slug for slug in slugs if slug in existing]
    if len(kept) == len(slugs):
        which = (
            f"practice {slugs[0]} already exists"
            if practices == 1
            else f"practices {slugs[0]} .. {slugs[-1]} already exist"
        )
        raise BadRequest(f"{which}; nothing to add")
    ids = _Ids(engine, tables)
    pw_hash = hash_password(password)  # once: argon2 is deliberately slow
    result = SeedResult(start=start, kept=len(kept))
    batch = _Rows()
    # Generating rows (Python) and loading them (the database) overlap: one batch is
    # written in a background thread while the next is generated; at most one in flight.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-writer") as writer:
        pending: Future[None] | None = None
        for i, slug in enumerate(slugs):
            if slug not in existing:
                _practice(batch, ids, i, slug, patients, seed, start, pw_hash, result)
            last = i == practices - 1
            if batch.tables and (len(batch.tables.get("patients", ())) >= 10_000 or last):
                if pending is not None:
                    pending.result()
                pending = writer.submit(_write, engine, batch, tables)
                batch = _Rows()
            if progress is not None:
                progress(i + 1, practices)
        if pending is not None:
            pending.result()
    _fix_sequences(engine, tables)
    result.seconds = time.monotonic() - started
    return result


def _practice(
    rows: _Rows,
    ids: _Ids,
    index: int,
    slug: str,
    n_patients: int,
    seed_value: int,
    start: dt.date,
    pw_hash: str,
    result: SeedResult,
) -> None:
    rng = random.Random(f"chartguard:{seed_value}:{index}")
    created = _utc(start - dt.timedelta(days=365), DAY_START)
    practice_id = ids.take(_T["practices"])
    family = FAMILY[index % len(FAMILY)]
    zone_name = TIMEZONES[index % len(TIMEZONES)]
    zone = ZoneInfo(zone_name)
    rows.add(
        _T["practices"],
        {
            "id": practice_id,
            "slug": slug,
            "name": f"{family} Family Practice",
            "created_at": created,
            "timezone": zone_name,
        },
    )
    rows.add(_T["audit_heads"], {"practice_id": practice_id, "seq": 0, "hash": GENESIS})
    result.practices += 1

    def user(local: str, name: str, role: str) -> int:
        uid = ids.take(_T["users"])
        rows.add(
            _T["users"],
            {
                "id": uid,
                "practice_id": practice_id,
                "email": f"{local}@{slug}.test",
                "display_name": name,
                "role": role,
                "password_hash": pw_hash,
                "disabled": False,
                "created_at": created,
                "password_changed_at": created,
            },
        )
        result.users += 1
        return uid

    providers = [user("owner", f"Dr. {rng.choice(GIVEN)} {family}", "owner")]
    for k in range(1, _providers_for(n_patients) + 1):
        providers.append(user(f"clinician{k}", f"Dr. {rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                              "clinician"))  # fmt: skip
    for k in range(1, 3):
        user(f"staff{k}", f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}", "staff")

    patient_ids: list[int] = []
    for n in range(n_patients):
        pid = ids.take(_T["patients"])
        patient_ids.append(pid)
        given, fam = rng.choice(GIVEN), rng.choice(FAMILY)
        sms, email = rng.random() < 0.7, rng.random() < 0.5
        birth = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 85))
        rows.add(
            _T["patients"],
            {
                "id": pid,
                "practice_id": practice_id,
                "mrn": f"{index:04d}-{n:06d}",
                "given_name": given,
                "family_name": fam,
                "birth_date": birth,
                "sex": rng.choice(("female", "male", "female", "male", "other")),
                "phone": f"+1 555 {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
                "email": f"{given.lower()}.{fam.lower()}{n}@example.test",
                "address": f"{rng.randrange(1, 999)} {rng.choice(STREETS)} St",
                "consent_sms": sms,
                "consent_email": email,
                "consent_recorded_at": created if (sms or email) else None,
                "version": 1,
                "created_at": created,
                "updated_at": created,
            },
        )
        _clinical(rows, ids, rng, practice_id, pid, rng.choice(providers), start, zone, result)
    result.patients += n_patients

    for day_offset in range(SCHEDULE_DAYS):
        day = start + dt.timedelta(days=day_offset)
        for provider in providers:
            at = _utc(day, DAY_START, zone)
            for _ in range(rng.randint(20, 25)):
                rows.add(
                    _T["appointments"],
                    {
                        "id": ids.take(_T["appointments"]),
                        "practice_id": practice_id,
                        "patient_id": rng.choice(patient_ids),
                        "provider_id": provider,
                        "start_at": at,
                        "end_at": at + SLOT,
                        "status": "cancelled" if rng.random() < 0.05 else "booked",
                        "reason": rng.choice(REASONS),
                        "version": 1,
                        "created_at": created,
                    },
                )
                result.appointments += 1
                at += SLOT


def _clinical(
    rows: _Rows,
    ids: _Ids,
    rng: random.Random,
    practice_id: int,
    patient_id: int,
    provider_id: int,
    start: dt.date,
    zone: dt.tzinfo,
    result: SeedResult,
) -> None:
    visit = _utc(
        start - dt.timedelta(days=rng.randrange(7, 300)), dt.time(rng.randrange(8, 17)), zone
    )
    rows.add(
        _T["encounters"],
        {
            "id": ids.take(_T["encounters"]),
            "practice_id": practice_id,
            "patient_id": patient_id,
            "provider_id": provider_id,
            "appointment_id": None,
            "started_at": visit,
            "note": NOTE.format(
                reason=rng.choice(REASONS).capitalize(),
                sys=rng.randrange(105, 160),
                dia=rng.randrange(65, 100),
                hr=rng.randrange(55, 95),
                weeks=rng.choice((2, 4, 6, 12)),
            ),
            "status": "signed",
            "signed_at": visit + dt.timedelta(hours=2),
            "signed_by": provider_id,
            "version": 2,
            "created_at": visit,
        },
    )
    result.encounters += 1
    for loinc, name, unit, low, high, mean, sd in rng.sample(LABS, 3):
        value = round(max(0.1, rng.gauss(mean, sd)), 2)
        rows.add(
            _T["lab_results"],
            {
                "id": ids.take(_T["lab_results"]),
                "practice_id": practice_id,
                "patient_id": patient_id,
                "loinc": loinc,
                "name": name,
                "value": value,
                "unit": unit,
                "ref_low": low,
                "ref_high": high,
                "abnormal": (low is not None and value < low)
                or (high is not None and value > high),
                "observed_at": visit,
                "created_at": visit,
            },
        )
        result.labs += 1
    if rng.random() < 0.3:
        substance, reaction = rng.choice(ALLERGENS)
        rows.add(
            _T["allergies"],
            {
                "id": ids.take(_T["allergies"]),
                "practice_id": practice_id,
                "patient_id": patient_id,
                "substance": substance,
                "reaction": reaction,
                "severity": rng.choice(("mild", "moderate", "severe")),
                "recorded_at": visit,
            },
        )
        result.allergies += 1
    for med_name, dose, freq in rng.sample(MEDS, rng.choice((0, 1, 1, 2, 3))):
        rows.add(
            _T["medications"],
            {
                "id": ids.take(_T["medications"]),
                "practice_id": practice_id,
                "patient_id": patient_id,
                "name": med_name,
                "dose": dose,
                "frequency": freq,
                "active": True,
                "started_on": visit.date(),
                "recorded_at": visit,
            },
        )
        result.medications += 1


def _write(engine: Engine, rows: _Rows, tables: Iterable[Table]) -> None:
    with engine.begin() as conn:
        for table in tables:
            data = rows.tables.get(table.name)
            if not data:
                continue
            if engine.dialect.name == "postgresql":
                cols = list(data[0])
                raw = conn.connection.dbapi_connection
                assert raw is not None
                with raw.cursor() as cur:  # type: ignore[attr-defined]
                    with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in data:
                            copy.write_row([row[c] for c in cols])
            else:
                conn.execute(insert(table), data)


def _fix_sequences(engine: Engine, tables: Iterable[Table]) -> None:
    """Explicit ids bypassed PostgreSQL's sequences; move them past the new rows."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in tables:
            if table.name == "audit_heads":
                continue
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT COALESCE(max(id), 1) FROM {table.name}))"
                )
            )
