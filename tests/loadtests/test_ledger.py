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
    read_history,
    read_ledger,
    write_manifest,
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
    write_manifest(path, workers=2)
    for worker in ("worker-0", "worker-1"):
        with LedgerWriter(tmp_path / f"ledger.jsonl.{worker}", worker=worker) as writer:
            writer.append(entry())
    history = read_history(path)
    assert sorted(e.worker for e in history.entries) == ["worker-0", "worker-1"]
    assert history.problems == []
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
    history = read_history(path)
    assert len(history.entries) == 5
    assert history.problems == [
        "ledger part ledger.jsonl has no closing line: its writer stopped before the end "
        "of the run (crashed, killed, or still running)"
    ]


def test_an_invoked_write_is_in_the_history_before_its_answer(tmp_path):
    """The invoke is on disk before the write is sent: a generator that dies before the
    answer (or before its batch of answers is synced) leaves it as indeterminate."""
    path = tmp_path / "ledger.jsonl"
    pid = os.fork()
    if pid == 0:  # child: invoke two writes, complete one, die without syncing it
        writer = LedgerWriter(path, worker="w", fsync_entries=1000, fsync_seconds=1000)
        writer.invoke(entry(WriteStatus.ack, idempotency_key="k1", invoked=5.0, expects=1))
        writer.invoke(entry(WriteStatus.ack, idempotency_key="k2", invoked=6.0))
        writer.append(entry(WriteStatus.ack, idempotency_key="k2", invoked=6.0, at=6.1))
        os._exit(0)
    os.waitpid(pid, 0)
    history = read_history(path)
    # k2's answer was still in the process's buffer: both writes read as open.
    by_key = {e.idempotency_key: e for e in history.entries}
    assert sorted(by_key) == ["k1", "k2"]
    assert all(e.status is WriteStatus.indeterminate for e in history.entries)
    first = by_key["k1"]
    assert first.expects == 1 and first.started == 5.0 and "no answer" in str(first.error)
    assert first.seq == 1 and first.worker == "w"


def test_an_answer_completes_its_invoke(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter(path, worker="w") as writer:
        writer.invoke(entry(idempotency_key="k1", invoked=5.0))
        writer.invoke(entry(idempotency_key="k2", invoked=6.0))
        writer.append(entry(WriteStatus.fail, idempotency_key="k2", http_status=409))
        writer.append(entry(idempotency_key="k1", at=7.0))
        assert writer.counts == {"ack": 1, "fail": 1}
    history = read_history(path)
    assert history.problems == []
    by_key = {e.idempotency_key: e for e in history.entries}
    assert len(history.entries) == 2
    assert by_key["k1"].status is WriteStatus.ack and by_key["k1"].seq == 1
    assert by_key["k2"].status is WriteStatus.fail and by_key["k2"].seq == 2


def test_an_invoke_needs_its_idempotency_key(tmp_path):
    with LedgerWriter(tmp_path / "l.jsonl") as writer, pytest.raises(LedgerError, match="key"):
        writer.invoke(entry())


@pytest.mark.parametrize("damage", ["drop a line", "cut after a line"])
def test_a_short_or_altered_part_is_named(tmp_path, damage):
    path = tmp_path / "ledger.jsonl"
    with LedgerWriter(path) as writer:
        for _ in range(3):
            writer.append(entry())
    lines = path.read_text().splitlines()
    if damage == "drop a line":
        path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
        expected = "ledger part ledger.jsonl is short or altered"
    else:
        path.write_text("\n".join(lines[:2]) + "\n")
        expected = "ledger part ledger.jsonl has no closing line"
    problems = read_history(path).problems
    assert len(problems) == 1 and problems[0].startswith(expected)


def test_the_manifest_names_a_missing_worker_part(tmp_path):
    path = tmp_path / "ledger.jsonl"
    write_manifest(path, workers=3)
    for index in (0, 2):
        with LedgerWriter(tmp_path / f"ledger.jsonl.worker-{index}") as writer:
            writer.append(entry())
    history = read_history(path)
    assert len(history.entries) == 2
    assert history.problems == [
        "ledger part ledger.jsonl.worker-1 is missing (3 workers wrote parts; copy every "
        "remote worker's part next to the ledger)"
    ]


def test_worker_parts_without_a_manifest_are_a_problem(tmp_path):
    with LedgerWriter(tmp_path / "ledger.jsonl.worker-0") as writer:
        writer.append(entry())
    problems = read_history(tmp_path / "ledger.jsonl").problems
    assert len(problems) == 1 and "no ledger.jsonl.manifest.json" in problems[0]


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
        (503, {"error": "read_only"}, WriteStatus.fail),  # a standby refused it: not written
        (409, {"error": "conflict"}, WriteStatus.fail),
        (422, {"error": "validation"}, WriteStatus.fail),
    ],
)
def test_what_an_answer_means_for_the_ledger(status, body, outcome):
    assert write_outcome(status, body) is outcome
