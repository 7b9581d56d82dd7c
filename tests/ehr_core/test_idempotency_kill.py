"""A process killed between a keyed write and its answer leaves neither the write nor its
key: the EHR runs in a child process that SIGKILLs itself after the write, its stored
answer and its audit entry were sent to the database but before the commit. The retry
with the same key then writes exactly once (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ehr_core import Database, Settings, create_app
from ehr_core.models import AuditEntry, IdempotencyRecord, Patient
from tests.ehr_core.conftest import token_for

BODY = {"given_name": "Kill", "family_name": "Nine", "birth_date": "1975-05-06"}
KEY = "killed-before-commit"

CHILD = """
import json, os, signal, sys
from fastapi.testclient import TestClient
from ehr_core import Settings, create_app
from ehr_core.idempotency import keyed_write

real_append = keyed_write.audit.append

def append_then_die(*args, **kwargs):
    real_append(*args, **kwargs)  # the last statement before the commit
    os.kill(os.getpid(), signal.SIGKILL)

keyed_write.audit.append = append_then_die
settings = Settings(db_url=os.environ["KILL_DB"], region="kill",
                    audit_spool_path=os.environ["KILL_SPOOL"])
with TestClient(create_app(settings)) as client:
    client.post("/api/v1/patients", json=json.loads(os.environ["KILL_BODY"]),
                headers={"Authorization": os.environ["KILL_AUTH"],
                         "Idempotency-Key": os.environ["KILL_KEY"]})
sys.exit(3)  # never reached: the process died before the commit
"""


def _counts(settings: Settings) -> tuple[int, int, int]:
    db = Database(settings)
    try:
        with db.session() as s:

            def n(model: object, *where: object) -> int:
                stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
                return int(s.execute(stmt).scalar_one())

            return (
                n(Patient),
                n(AuditEntry),
                n(IdempotencyRecord, IdempotencyRecord.key == KEY),
            )
    finally:
        db.dispose()


def test_a_kill_before_the_commit_leaves_no_write_and_no_key(
    settings: Settings, tmp_path: Path
) -> None:
    db = Database(settings)
    try:
        auth = token_for(db, "staff1@practice-0000.test")
    finally:
        db.dispose()
    before = _counts(settings)
    env = {
        **os.environ,
        "KILL_DB": settings.db_url,
        "KILL_SPOOL": str(tmp_path / "spool.jsonl"),
        "KILL_AUTH": auth["Authorization"],
        "KILL_KEY": KEY,
        "KILL_BODY": json.dumps(BODY),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, timeout=120,
        start_new_session=True,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    assert _counts(settings) == before  # no patient, no audit entry, no key
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        while True:
            r = client.post("/api/v1/patients", json=BODY, headers={**auth, "Idempotency-Key": KEY})
            # PostgreSQL may hold the dead session's in-flight lock until it notices the
            # closed connection: a careful client retries after Retry-After.
            if r.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(float(r.headers.get("Retry-After", "1")))
        assert r.status_code == 201, r.text
        assert "idempotent-replayed" not in r.headers
        again = client.post("/api/v1/patients", json=BODY, headers={**auth, "Idempotency-Key": KEY})
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    patients, audits, keys = _counts(settings)
    assert (patients, audits, keys) == (before[0] + 1, before[1] + 1, 1)
