"""A failover under write load, judged by the write history and counted again with SQL.

A private primary + hot standby (sync and async). Writers put encounters and patient
edits through the router, recorded in a ledger history (invoke, then outcome); the
replication link is cut while they write, the writers stop, the primary's committed state
is read with SQL, the primary dies hard and the standby is promoted. ``load verify``
must then report exactly the acknowledged writes PostgreSQL really lost: those the old
primary holds and the new one does not, counted here with SQL on both sides. In sync
mode that is none; in async mode, every write acknowledged after the cut.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from infra.local import postgres as pg
from infra.local import toxiproxy
from loadtests.ledger import (
    LedgerEntry,
    LedgerWriter,
    WriteStatus,
    content_hash,
    field_hashes,
    read_history,
)
from loadtests.retry import IDEMPOTENCY_HEADER, final_outcome
from loadtests.verify import verify_ledger
from runbooks.local.cutover import Cutover
from runbooks.local.outcome import CutoverStatus
from runbooks.local.server import stop_postmaster
from tests.runbooks.local.stack import TOXIPROXY_BIN, PrivateStack, start_private_stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PRACTICE = "practice-0000"
PASSWORD = "chartguard-seed-password"
WRITERS = 3


@pytest.fixture(scope="module", params=["sync", "async"])
def stack(request: pytest.FixtureRequest) -> Iterator[PrivateStack]:
    if not TOXIPROXY_BIN.exists():
        pytest.skip("toxiproxy-server not built yet (bash scripts/bootstrap.sh tools)")
    private = start_private_stack(replication=request.param)
    try:
        yield private
    finally:
        private.close()


class Writer(threading.Thread):
    """Writes through the router until stopped: a new encounter, then an edit of a
    patient's phone (If-Match its version), each invoked in the ledger before it is sent."""

    def __init__(self, url: str, token: str, patient: int, ledger: LedgerWriter) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, timeout=3.0,
                                   headers={"Authorization": f"Bearer {token}"})
        self.patient, self.ledger = patient, ledger
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                token = uuid.uuid4().hex  # finds the encounter if its id never comes back
                self._write("encounter", "create", "POST", "/api/v1/encounters",
                            {"patient_id": self.patient, "note": f"visit {token}"}, key=token,
                            locate=f"/api/v1/patients/{self.patient}/encounters?page_size=200")
                try:  # a read audits itself: in sync mode it waits for the standby too
                    current = self.client.get(f"/api/v1/patients/{self.patient}")
                except httpx.HTTPError:
                    continue
                if current.status_code == 200:
                    version = int(current.json()["version"])
                    self._write("patient", "update", "PATCH", f"/api/v1/patients/{self.patient}",
                                {"phone": f"+1 555 {uuid.uuid4().int % 10**7:07d}"},
                                rid=str(self.patient), expects=version)
        finally:
            self.client.close()

    def _write(self, kind: str, op: str, method: str, path: str, values: dict[str, Any], *,
               rid: str | None = None, expects: int | None = None, key: str | None = None,
               locate: str | None = None) -> None:
        idempotency = str(uuid.uuid4())
        invoked = self.ledger.invoke(LedgerEntry(
            status=WriteStatus.indeterminate, op=op, kind=kind, practice=PRACTICE,
            fields=field_hashes(values), hash=content_hash(values), at=time.time(),
            invoked=time.time(), id=rid, idempotency_key=idempotency, expects=expects,
            read=f"/api/v1/{kind}s/{rid}" if rid else None, key=key, locate=locate,
        ))  # fmt: skip
        headers = {IDEMPOTENCY_HEADER: idempotency}
        if expects is not None:
            headers["If-Match"] = f'"{expects}"'
        try:
            answer = self.client.request(method, path, json=values, headers=headers)
            status, body = answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            status, body = 0, None
        outcome = final_outcome(status, body)
        acked = outcome is WriteStatus.ack and isinstance(body, dict)
        new_id = str(body["id"]) if acked and body.get("id") is not None else rid
        self.ledger.append(replace(
            invoked, status=outcome, at=time.time(), id=new_id,
            read=f"/api/v1/{kind}s/{new_id}" if new_id else None,
            version=int(body["version"]) if acked and "version" in body else None,
            http_status=status or None, error=None if acked else f"HTTP {status}",
        ))  # fmt: skip


def _dsn(stack: PrivateStack, region: str) -> str:
    return pg.app_dsn(stack.cluster.db(region))


def _state(dsn: str, encounters: list[int], patients: list[int]) -> dict[str, Any]:
    """What a server holds of the ledger's resources: encounter ids, patient versions."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        found = {r[0] for r in conn.execute(
            "SELECT id FROM encounters WHERE id = ANY(%s)", (encounters,))}
        versions = dict(conn.execute(
            "SELECT id, version FROM patients WHERE id = ANY(%s)", (patients,)).fetchall())
    return {"encounters": found, "patients": versions}


def _really_lost(acks: list[LedgerEntry], old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Acknowledged writes the old primary holds and the new one does not (SQL only)."""
    lost = []
    for entry in acks:
        rid = int(entry.id or 0)
        if entry.kind == "encounter":
            assert rid in old["encounters"], "an acknowledged create never reached its disk"
            gone = rid not in new["encounters"]
        else:
            assert old["patients"][rid] >= (entry.version or 0)
            gone = new["patients"].get(rid, 0) < (entry.version or 0)
        if gone:
            lost.append(entry.ref)
    return lost


def test_verify_reports_exactly_what_the_failover_lost(stack, tmp_path: Path):
    mode = stack.cluster.replication
    source, target = stack.cluster.primary, stack.cluster.standbys[0]
    with httpx.Client(base_url=stack.router_url, timeout=10) as client:
        token = client.post("/api/v1/auth/login", json={
            "email": f"owner@{PRACTICE}.test", "password": PASSWORD}).json()["token"]
        listed = client.get("/api/v1/patients?page_size=3",
                            headers={"Authorization": f"Bearer {token}"}).json()["items"]
    ledger_path = tmp_path / "ledger.jsonl"
    admin = toxiproxy.client(str(stack.cluster.toxiproxy_api))
    link = f"repl-{target}"
    with LedgerWriter(ledger_path, worker="e2e") as ledger:
        writers = [Writer(stack.router_url, token, p["id"], ledger) for p in listed[:WRITERS]]
        for writer in writers:
            writer.start()
        try:
            time.sleep(2.0)  # replicated writes
            cut = time.time()
            admin.set_enabled(link, False)  # the standby stops hearing from the primary
            time.sleep(3.0)  # async: acknowledged on the primary only; sync: they wait
        finally:
            for writer in writers:
                writer.stopping.set()
            for writer in writers:
                writer.join(timeout=30)
    entries = read_history(ledger_path).entries
    acks = [e for e in entries if e.status is WriteStatus.ack]
    after_cut = [e for e in acks if e.at > cut + 0.5]
    encounter_ids = [int(e.id) for e in entries if e.kind == "encounter" and e.id]
    patient_ids = [p["id"] for p in listed[:WRITERS]]
    old = _state(_dsn(stack, source), encounter_ids, patient_ids)

    assert stop_postmaster(stack.cluster.db(source), immediate=True)  # dies, no checkpoint
    admin.set_enabled(link, True)  # (the old primary is gone: nothing more can flow)
    runner = Cutover(stack.cluster)
    result = runner.failover(target)
    assert result.status is CutoverStatus.SUCCEEDED, result.reason
    stack.cluster = runner.cluster
    new = _state(_dsn(stack, target), encounter_ids, patient_ids)

    really_lost = _really_lost(acks, old, new)
    verdict = verify_ledger(ledger_path, target=stack.router_url, password=PASSWORD)
    counts = verdict.targets[0].counts
    assert len(acks) > 20 and not verdict.problems
    reported = verdict.targets[0].refs.get("lost", [])
    assert verdict.lost == len(really_lost), (counts, sorted(really_lost), sorted(reported))
    assert set(reported) <= set(really_lost)  # the same writes, not only as many
    assert counts["corrupted"] == counts["unexpected"] == counts["unreadable"] == 0, counts
    if mode == "sync":
        assert not really_lost and verdict.ok, counts
        assert not after_cut  # nothing was acknowledged while the standby was away
    else:
        assert not verdict.ok
        assert len(really_lost) >= len(after_cut) > 0  # at least every write acked after the cut
