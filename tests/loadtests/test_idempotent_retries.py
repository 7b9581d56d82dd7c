"""Writes through a link that resets connections: the load generator retries them with
their ``Idempotency-Key`` and every acknowledged write is in the database exactly once.

Real processes: ``chartguard ehr serve`` on SQLite, a toxiproxy-server between Locust and
the EHR with a ``reset_peer`` toxic on the answers (so writes are applied and their
answers lost), and ``chartguard load run``. All are stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtests.ledger import WriteStatus, ledger_parts, read_ledger
from loadtests.verify import verify_ledger
from tests.loadtests.conftest import copy_db, finish, free_port, kill_group, start_load
from tests.toxiproxy_server import toxiproxy_server

pytestmark = pytest.mark.integration

PASSWORD = "chartguard-seed-password"
RUN = ["--shape", "monday-surge", "--time-scale", "300", "--duration", "26", "--quiet"]


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[str]:
    with toxiproxy_server(tmp_path / "toxiproxy.log") as url:
        yield url


def _wait_for_ledger(ledger: Path, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ledger_parts(ledger):
        assert process.poll() is None, "the load run ended before writing its ledger"
        assert time.monotonic() < deadline, "the load run wrote no ledger in time"
        time.sleep(0.1)


def _rows(db: Path, sql: str, *args: object) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def test_retried_writes_through_reset_connections_land_exactly_once(
    seeded_db, ehr_factory, test_profile, toxiproxy, tmp_path
):
    ehr = ehr_factory.start(copy_db(seeded_db, tmp_path / "ehr.db"))
    listen = f"127.0.0.1:{free_port()}"
    api = httpx.Client(base_url=toxiproxy, timeout=5)
    upstream = f"127.0.0.1:{ehr.port}"
    assert api.post("/proxies", json={"name": "edge", "listen": listen, "upstream": upstream})
    # Half of the connections lose their next answer: the request reaches the EHR (a
    # write is applied), then the connection is reset before the response gets back.
    # Toxicity is drawn per connection when the toxic is added, and Locust keeps its
    # connections alive: re-adding the toxic every half second re-draws it, so the resets
    # keep coming (a flapping brownout) instead of hitting only the first connections.
    toxic = {"name": "reset", "type": "reset_peer", "stream": "downstream",
             "toxicity": 0.5, "attributes": {"timeout": 0}}  # fmt: skip
    stop = threading.Event()

    def flap() -> None:
        with httpx.Client(base_url=toxiproxy, timeout=5) as flapper:
            while not stop.is_set():
                flapper.post("/proxies/edge/toxics", json=toxic)
                stop.wait(0.5)
                flapper.delete("/proxies/edge/toxics/reset")

    flapping = threading.Thread(target=flap, daemon=True)
    ledger = tmp_path / "ledger.jsonl"
    process = start_load(
        ["run", "--profile", str(test_profile), "--target", f"http://{listen}", *RUN,
         "--ledger", str(ledger), "--out", str(tmp_path / "out")],
        cwd=tmp_path, env={"CHARTGUARD_LOAD_REQUEST_TIMEOUT_SECONDS": "5"},
    )  # fmt: skip
    try:
        # The resets start once the run is past its pre-flight logins (which give up on a
        # target that keeps resetting them) and writing its ledger.
        _wait_for_ledger(ledger, process)
        flapping.start()
        finish(process, timeout=120)
    finally:
        stop.set()
        if flapping.ident is not None:
            flapping.join(timeout=10)
        kill_group(process, sig=signal.SIGKILL)  # already ended unless a wait failed
        api.close()
    entries, _ = read_ledger(ledger)
    acked = [e for e in entries if e.status is WriteStatus.ack]
    assert len(acked) >= 15, f"too few writes to judge: {len(entries)}"
    assert all(e.idempotency_key for e in entries)
    retried = [e for e in entries if e.attempts > 1]
    saved = [e for e in retried if e.status is WriteStatus.ack]
    assert saved, "no write was saved by a retry (did the toxic reset anything?)"
    assert any(e.replayed for e in saved), "no retry was answered by a replay"
    # Every acknowledged write committed its key with it.
    db = ehr.db
    for entry in acked:
        found = _rows(db, "SELECT count(*) FROM idempotency_keys WHERE key = ?",
                      entry.idempotency_key)  # fmt: skip
        assert found == 1, entry.ref
    # Creates are in the database exactly once (indeterminate ones at most once).
    tables = {"patient": ("patients", "mrn"), "encounter": ("encounters", "note"),
              "allergy": ("allergies", "reaction")}  # fmt: skip
    creates = [e for e in entries if e.op == "create" and e.key]
    assert creates
    for entry in creates:
        table, column = tables[entry.kind]
        copies = _rows(db, f"SELECT count(*) FROM {table} WHERE instr({column}, ?) > 0",
                       entry.key)  # fmt: skip
        if entry.status is WriteStatus.ack:
            assert copies == 1, entry.ref
        else:
            assert copies <= 1, entry.ref
    result = verify_ledger(ledger, target=ehr.url, password=PASSWORD)
    counts = result.targets[0].counts
    assert result.ok, result.to_dict()
    assert counts["lost"] == 0 and counts["corrupted"] == 0 and counts["duplicated"] == 0
    # Locust's raw stats count every attempt: the lost answers are failures there.
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["ledger"]["retried"] == len(retried)
    assert summary["ledger"]["saved_by_retry"] == len(saved)
    assert summary["ledger"]["write_attempts"] > len(entries)
    assert summary["total"]["failures"] > 0
