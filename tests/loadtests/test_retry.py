"""The load generator's retry policy for writes whose answer was lost (unit)."""

from __future__ import annotations

import json

import pytest

from loadtests.ledger import LedgerEntry, WriteStatus
from loadtests.retry import RetryPolicy, final_outcome, retry_counts, retryable

pytestmark = pytest.mark.unit

IN_FLIGHT = {"error": "idempotency_key_in_flight"}


@pytest.mark.parametrize(
    ("status", "body", "again"),
    [
        (0, None, True),  # no answer: timeout, reset connection
        (502, None, True),
        (504, {"error": "gateway_timeout"}, True),
        (503, {"error": "database_unavailable"}, True),
        (503, {"error": "read_only"}, False),  # a clean refusal from a standby
        (409, IN_FLIGHT, True),  # the first attempt still runs
        (409, {"error": "version_conflict"}, False),
        (422, {"error": "idempotency_key_reused"}, False),
        (500, {"error": "internal_error"}, False),  # a bug is not retried
        (201, {"id": 1}, False),
    ],
)
def test_which_answers_are_retried(status, body, again):
    assert retryable(status, body) is again


def test_a_key_still_in_flight_is_indeterminate_not_a_rejection():
    assert final_outcome(409, IN_FLIGHT) is WriteStatus.indeterminate
    assert final_outcome(409, {"error": "version_conflict"}) is WriteStatus.fail
    assert final_outcome(0, None) is WriteStatus.indeterminate
    assert final_outcome(201, {"id": 3}) is WriteStatus.ack


def test_backoff_is_jittered_exponential_and_honours_a_short_retry_after():
    policy = RetryPolicy(attempts=3, budget_seconds=4, base_seconds=0.2)
    for attempt in (1, 2, 3):
        base = 0.2 * 2 ** (attempt - 1)
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(0.5 * base <= d <= 1.5 * base for d in delays)
        assert len(delays) > 1  # jittered: clients do not retry in step
    assert policy.delay(1, "1") >= 1.0
    assert policy.delay(1, "30") <= 1.0 + 1e-9  # a long Retry-After is capped
    assert 0.1 <= policy.delay(1, "soon") <= 0.3  # unparsable: ignored


def _entry(status: WriteStatus, attempts: int, replayed: bool | None = None) -> LedgerEntry:
    return LedgerEntry(
        status=status, op="create", kind="patient", practice="practice-0000", fields={},
        hash="h", at=0.0, idempotency_key="k", attempts=attempts, replayed=replayed,
    )  # fmt: skip


def test_retry_counts_for_the_summary():
    entries = [
        _entry(WriteStatus.ack, 1),
        _entry(WriteStatus.ack, 2, replayed=True),
        _entry(WriteStatus.ack, 3),
        _entry(WriteStatus.indeterminate, 3),
    ]
    assert retry_counts(entries) == {
        "write_attempts": 9,
        "retried": 3,
        "saved_by_retry": 2,
        "replayed": 1,
    }


def test_the_ledger_keeps_the_key_and_attempts():
    entry = _entry(WriteStatus.ack, 2, replayed=True)
    data = json.loads(entry.to_json())
    again = LedgerEntry.from_dict(data)
    assert (again.idempotency_key, again.attempts, again.replayed) == ("k", 2, True)
    new_fields = ("attempts", "idempotency_key", "replayed")
    old = LedgerEntry.from_dict({k: v for k, v in data.items() if k not in new_fields})
    assert (old.idempotency_key, old.attempts, old.replayed) == (None, 1, None)
