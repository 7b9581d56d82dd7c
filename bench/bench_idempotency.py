"""What an ``Idempotency-Key`` costs the EHR per write, and what a replay costs.

In-process (FastAPI's TestClient, no network, so the numbers isolate the service's own
work), on a throwaway migrated + seeded SQLite file and on a throwaway local PostgreSQL
(the suite's helper): the same patient-create write ``N`` times without a key, ``N`` times
each with a fresh key (the in-flight lock and one indexed lookup first, the stored answer
inserted in the write's transaction), and ``N`` replays of one key (lock + lookup, no
write). Writes requests/s and p50/p99 (ms) of each to ``bench/results/idempotency.json``.
Knob: ``CHARTGUARD_BENCH_WRITES`` (default 300). Sequential requests: this is the cost of
one write, not the service's throughput (``bench_ehr`` measures that).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "idempotency.json"
BODY = {"given_name": "Bench", "family_name": "Mark", "birth_date": "1970-01-01"}


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    total = sum(ordered)
    return {
        "requests": len(ordered),
        "rps": round(len(ordered) / total, 1) if total else 0.0,
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
    }


def _measure(db_url: str, tmp: Path, writes: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from ehr_core import Database, Settings, create_app
    from ehr_core.migrate import upgrade
    from ehr_core.repo import users
    from ehr_core.seed import seed

    settings = Settings(
        db_url=db_url,
        region="bench",
        audit_spool_path=str(tmp / "spool.jsonl"),
        export_dir=str(tmp / "exports"),
    )
    upgrade(settings)
    db = Database(settings)
    try:
        seed(db.engine, practices=1, patients=20, seed=1, password="bench-password-1")
        with db.transaction() as session:
            user = users.find_by_email(session, "staff1@practice-0000.test")
            assert user is not None
            token, _ = users.start_session(session, user.id, 3600)
    finally:
        db.dispose()
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as client:

        def timed(headers: dict[str, str]) -> float:
            started = time.perf_counter()
            r = client.post("/api/v1/patients", json=BODY, headers=headers)
            elapsed = time.perf_counter() - started
            if r.status_code != 201:
                raise RuntimeError(f"bench write answered {r.status_code}")
            return elapsed

        for _ in range(20):  # warm up
            timed(auth)
        plain: list[float] = []
        keyed: list[float] = []
        # Interleaved, so a busy moment of the machine hits both alike.
        for _ in range(writes):
            plain.append(timed(auth))
            keyed.append(timed({**auth, "Idempotency-Key": str(uuid.uuid4())}))
        replay_key = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        timed(replay_key)
        replays = [timed(replay_key) for _ in range(writes)]
    result: dict[str, Any] = {
        "without_key": _stats(plain),
        "with_fresh_key": _stats(keyed),
        "replay": _stats(replays),
    }
    result["keyed_over_plain_p50"] = round(
        result["with_fresh_key"]["p50_ms"] / result["without_key"]["p50_ms"], 3
    )
    return result


def main() -> dict[str, Any]:
    """Measure on SQLite and PostgreSQL; write and return ``bench/results/idempotency.json``."""
    from tests.support.postgres import PostgresCluster  # the suite's real-PostgreSQL helper

    writes = int(os.environ.get("CHARTGUARD_BENCH_WRITES", "300"))
    with tempfile.TemporaryDirectory(prefix="chartguard-bench-idem-") as tmp:
        root = Path(tmp)
        sqlite = _measure(f"sqlite:///{root / 'ehr.db'}", root, writes)
        with PostgresCluster.start() as pg:
            pg.create_database("chartguard")
            postgres = _measure(pg.url("chartguard"), root, writes)
    result = {
        "benchmark": "idempotency",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "how": "in-process TestClient, sequential POST /api/v1/patients, one user",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "sqlite": sqlite,
        "postgresql": postgres,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
