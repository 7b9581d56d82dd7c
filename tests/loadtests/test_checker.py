import pytest

from loadtests.checker import Observation, Outcome, Presence, check, resource_key
from loadtests.ledger import LedgerEntry, WriteStatus, content_hash, field_hashes

pytestmark = pytest.mark.unit

ACK, MAYBE = WriteStatus.ack, WriteStatus.indeterminate


def write(status, values, *, rid="1", version=None, at=1.0, key=None):
    return LedgerEntry(
        status=status,
        op="update",
        kind="patient",
        practice="practice-0000",
        fields=field_hashes(values),
        hash=content_hash(values),
        at=at,
        id=rid,
        key=key,
        version=version,
    )


def seen(**values):
    return Observation(Presence.present, field_hashes(values))


def outcomes(entries, observations):
    result = check(entries, observations)
    return [result[i] for i in range(len(entries))]


def test_acknowledged_and_present_is_ok_and_missing_is_lost():
    entries = [write(ACK, {"phone": "1"}, rid="1"), write(ACK, {"phone": "2"}, rid="2")]
    observed = {"patient/1": seen(phone="1"), "patient/2": Observation(Presence.missing)}
    assert outcomes(entries, observed) == [Outcome.ok, Outcome.lost]


def test_indeterminate_is_recovered_when_present_and_unapplied_when_not():
    entries = [
        write(MAYBE, {"phone": "1"}, rid="1"),
        write(MAYBE, {"phone": "2"}, rid="2"),
        write(MAYBE, {"note": "x"}, rid=None, key="tok"),
    ]
    observed = {
        "patient/1": seen(phone="1"),
        "patient/2": seen(phone="other"),
        resource_key(entries[2]): Observation(Presence.missing),
    }
    assert outcomes(entries, observed) == [Outcome.recovered, Outcome.unapplied, Outcome.unapplied]


def test_later_acknowledged_write_supersedes_an_earlier_one():
    entries = [
        write(ACK, {"phone": "1"}, version=2, at=5.0),
        write(ACK, {"phone": "2"}, version=3, at=1.0),  # version orders, not the clock
    ]
    assert outcomes(entries, {"patient/1": seen(phone="2")}) == [Outcome.ok, Outcome.ok]


def test_an_older_value_back_in_place_is_a_lost_update():
    entries = [write(ACK, {"phone": "1"}, version=2), write(ACK, {"phone": "2"}, version=3)]
    assert outcomes(entries, {"patient/1": seen(phone="1")}) == [Outcome.ok, Outcome.lost]


def test_a_value_nobody_wrote_is_corruption():
    entries = [write(ACK, {"phone": "1", "address": "a"})]
    assert outcomes(entries, {"patient/1": seen(phone="1", address="b")}) == [Outcome.corrupted]


def test_an_indeterminate_write_may_land_over_an_acknowledged_one():
    entries = [write(ACK, {"phone": "1"}, version=2), write(MAYBE, {"phone": "2"}, at=2.0)]
    assert outcomes(entries, {"patient/1": seen(phone="2")}) == [Outcome.ok, Outcome.recovered]


def test_fields_are_judged_independently():
    entries = [
        write(ACK, {"phone": "1", "address": "a"}, version=1),
        write(ACK, {"phone": "2"}, version=2),
    ]
    observed = {"patient/1": seen(phone="2", address="a")}
    assert outcomes(entries, observed) == [Outcome.ok, Outcome.ok]


def test_unreadable_resources_are_never_ok():
    entries = [write(ACK, {"phone": "1"}), write(ACK, {"phone": "1"}, rid="9")]
    observed = {"patient/1": Observation(Presence.unreadable)}
    assert outcomes(entries, observed) == [Outcome.unreadable, Outcome.unreadable]
