import json
import os

import pytest

from loadtests.errors import LedgerError
from loadtests.ledger import (
    LedgerEntry,
    LedgerWriter,
    WriteStatus,
    content_hash,
    field_hashes,
    read_ledger,
    write_outcome,
)

pytestmark = pytest.mark.unit


def entry(status=WriteStatus.ack, **over):
    values = {"phone": "555-0100"}
    data = {
        "status": status,
        "op": "update",
        "kind": "patient",
        "practice": "practice-0000",
        "fields": field_hashes(values),
        "hash": content_hash(values),
        "at": 1.0,
        "id": "7",
        "read": "/api/v1/patients/7",
        "region": "east",
        "version": 2,
    }
    data.update(over)
    return LedgerEntry(**data)


def test_hashes_are_canonical_and_hide_values():
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash("x") != content_hash("y")
    hashes = field_hashes({"phone": "555-0100"})
    assert "555" not in json.dumps(hashes)


def test_round_trip_numbers_entries_and_syncs(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter(path, worker="w1", fsync_entries=2) as writer:
        first = writer.append(entry())
        writer.append(
            entry(WriteStatus.indeterminate, id=None, read=None, key="k1", error="timeout")
        )
        assert writer.counts == {"ack": 1, "indeterminate": 1}
    assert first.seq == 1 and first.worker == "w1"
    entries, torn = read_ledger(path)
    assert torn == 0
    assert [e.status for e in entries] == [WriteStatus.ack, WriteStatus.indeterminate]
    assert entries[0] == first
    assert entries[1].id is None and entries[1].key == "k1"
    assert "555-0100" not in path.read_text()


def test_a_torn_last_line_is_skipped_but_damage_elsewhere_is_an_error(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter(path) as writer:
        writer.append(entry())
        writer.append(entry())
    with path.open("a") as handle:
        handle.write('{"status": "ack", "op": "upd')  # the crash cut the line short
    entries, torn = read_ledger(path)
    assert len(entries) == 2 and torn == 1
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    with pytest.raises(LedgerError, match=":2 is not JSON"):
        read_ledger(path)


def test_worker_parts_are_read_with_the_main_file(tmp_path):
    path = tmp_path / "ledger.jsonl"
    for worker in ("worker-1", "worker-2"):
        with LedgerWriter(tmp_path / f"ledger.jsonl.{worker}", worker=worker) as writer:
            writer.append(entry())
    entries, _ = read_ledger(path)
    assert sorted(e.worker for e in entries) == ["worker-1", "worker-2"]
    with pytest.raises(LedgerError, match="no ledger"):
        read_ledger(tmp_path / "other.jsonl")


def test_writes_survive_a_hard_exit_of_the_writer(tmp_path):
    path = tmp_path / "ledger.jsonl"
    pid = os.fork()
    if pid == 0:  # child: append, flush the batch, die without closing anything
        writer = LedgerWriter(path, fsync_entries=1000, fsync_seconds=1000)
        for _ in range(5):
            writer.append(entry())
        writer.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    entries, _ = read_ledger(path)
    assert len(entries) == 5


def test_malformed_entry_is_named():
    with pytest.raises(LedgerError, match="malformed"):
        LedgerEntry.from_dict({"status": "ack"})


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (201, {}, WriteStatus.ack),
        (200, None, WriteStatus.ack),
        (0, None, WriteStatus.indeterminate),  # timeout or broken connection
        (500, {"error": "internal"}, WriteStatus.indeterminate),
        (504, None, WriteStatus.indeterminate),
        (503, {"error": "unavailable"}, WriteStatus.indeterminate),
        (503, {"error": "read_only"}, None),  # a standby refused it: nothing written
        (409, {"error": "conflict"}, None),
        (422, {"error": "validation"}, None),
    ],
)
def test_what_an_answer_means_for_the_ledger(status, body, outcome):
    assert write_outcome(status, body) is outcome
