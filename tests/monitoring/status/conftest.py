"""Fixtures for the status service: an app on a fresh SQLite file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitoring.status import StatusSettings, create_app
from tests.monitoring.status.payloads import TOKEN


@pytest.fixture
def status_settings(tmp_path: Path) -> StatusSettings:
    return StatusSettings(
        db_path=tmp_path / "status.db",
        token=TOKEN,  # type: ignore[arg-type]
        state_dir=tmp_path / "state",
        probe_interval_seconds=60,
    )


@pytest.fixture
def client(status_settings: StatusSettings) -> Iterator[TestClient]:
    with TestClient(create_app(status_settings)) as c:
        yield c
