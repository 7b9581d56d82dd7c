"""Seeded synthetic data: deterministic, realistic shape, refuses to double-seed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from ehr_core import Settings
from ehr_core.cli import ehr
from ehr_core.db import make_engine
from ehr_core.errors import BadRequest
from ehr_core.migrate import upgrade
from ehr_core.models import Base
from ehr_core.seed import seed

pytestmark = pytest.mark.unit
START = dt.date(2030, 3, 4)


def _seeded(path: Path, seed_value: int) -> dict[str, list[tuple]]:
    settings = Settings(db_url=f"sqlite:///{path}")
    upgrade(settings)
    engine = make_engine(settings)
    try:
        seed(engine, practices=2, patients=30, seed=seed_value, password="x" * 12, start=START)
    finally:
        engine.dispose()
    raw = create_engine(f"sqlite:///{path}")
    dump: dict[str, list[tuple]] = {}
    with raw.connect() as conn:
        for table in Base.metadata.sorted_tables:
            cols = [c.name for c in table.columns if c.name != "password_hash"]  # salted
            rows = conn.execute(text(f"SELECT {', '.join(cols)} FROM {table.name} ORDER BY 1"))
            dump[table.name] = [tuple(r) for r in rows]
    raw.dispose()
    return dump


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    one = _seeded(tmp_path / "one.db", 5)
    two = _seeded(tmp_path / "two.db", 5)
    other = _seeded(tmp_path / "other.db", 6)
    assert one == two
    assert one["patients"] != other["patients"]
    assert len(one["patients"]) == 60 and len(one["practices"]) == 2


def test_seeded_practice_shape(tmp_path: Path) -> None:
    data = _seeded(tmp_path / "shape.db", 1)
    emails = {row[2] for row in data["users"]}
    assert {
        "owner@practice-0000.test",
        "clinician1@practice-0000.test",
        "staff1@practice-0001.test",
    } <= emails
    per_provider_day: dict[tuple, int] = {}
    for row in data["appointments"]:
        _id, _practice, _patient, provider, start_at = row[:5]
        key = (provider, str(start_at)[:10])
        per_provider_day[key] = per_provider_day.get(key, 0) + 1
    assert per_provider_day and all(20 <= n <= 25 for n in per_provider_day.values())
    assert len(data["lab_results"]) == 3 * 60
    assert all(row[1] == 0 for row in data["audit_heads"])  # empty chains, not missing


def test_seeding_twice_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'twice.db'}")
    upgrade(settings)
    engine = make_engine(settings)
    try:
        seed(engine, practices=1, patients=5, password="x" * 12, start=START)
        with pytest.raises(BadRequest, match="practice-0000 already exists"):
            seed(engine, practices=1, patients=5, password="x" * 12, start=START)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM patients")).scalar() == 5
    finally:
        engine.dispose()


def test_seed_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(
        ehr, ["seed", "--practices", "2", "--patients", "10", "--db", db, "--start", "2030-03-04"]
    )
    assert result.exit_code == 0, result.output
    assert "seeded 2 practices" in result.output
    again = CliRunner().invoke(ehr, ["seed", "--practices", "1", "--patients", "1", "--db", db])
    assert again.exit_code == 1 and "already exists" in again.output


def test_seed_adds_the_missing_practices_next_to_a_demo_practice(tmp_path: Path) -> None:
    """`ehr serve` seeds practice-0000 into an empty database; a later `ehr seed
    --practices 3` must add practice-0001 and -0002 (as a fresh seed makes them) and leave
    the demo practice alone, not refuse."""
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(db_url=db)
    upgrade(settings)
    engine = make_engine(settings)
    try:
        seed(engine, practices=1, patients=4, password="x" * 12, start=START)
        result = seed(engine, practices=3, patients=6, password="x" * 12, start=START)
        assert (result.practices, result.kept, result.patients) == (2, 1, 12)
        with engine.connect() as conn:
            per_practice = dict(
                conn.execute(
                    text(
                        "SELECT p.slug, count(*) FROM patients pa JOIN practices p "
                        "ON p.id = pa.practice_id GROUP BY p.slug"
                    )
                ).all()
            )
            emails = set(conn.scalars(text("SELECT email FROM users")))
        assert per_practice == {"practice-0000": 4, "practice-0001": 6, "practice-0002": 6}
        assert {"owner@practice-0001.test", "owner@practice-0002.test"} <= emails
    finally:
        engine.dispose()
    again = CliRunner().invoke(ehr, ["seed", "--practices", "3", "--db", db])
    assert again.exit_code == 1
    assert "practices practice-0000 .. practice-0002 already exist; nothing to add" in again.output

