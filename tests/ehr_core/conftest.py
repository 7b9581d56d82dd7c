"""Fixtures for the EHR tests: an app on a fresh migrated SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ehr_core import Settings, create_app
from ehr_core.migrate import upgrade


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    settings = Settings(
        db_url=f"sqlite:///{tmp_path / 'ehr.db'}",
        region="test-east",
        audit_spool_path=str(tmp_path / "audit-spool.jsonl"),
    )
    upgrade(settings)
    return settings


@pytest.fixture
def sqlite_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings)) as client:
        yield client
