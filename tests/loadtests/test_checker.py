import pytest

from loadtests.checker import Observation, Outcome, Presence, check, resource_key
from loadtests.ledger import LedgerEntry, WriteStatus, content_hash, field_hashes

pytestmark = pytest.mark.unit

ACK, MAYBE, FAIL = WriteStatus.ack, WriteStatus.indeterminate, WriteStatus.fail


def write(status, values, *, rid="1", version=None, at=1.0, key=None, op="update",
          expects=None, invoked=None):
    return LedgerEntry(
        status=status,
        op=op,
        expects=expects,
        invoked=invoked,
        kind="patient",
        practice="practice-0000",
        fields=field_hashes(values),
        hash=content_hash(values),
        at=at,
        id=rid,
        key=key,
        version=version,
    )


def seen(version=None, **values):
    return Observation(Presence.present, field_hashes(values), version=version)


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


# -- the masking cases: an indeterminate write must not hide a lost acknowledged one ------


def test_an_older_timed_out_edit_in_place_of_an_acknowledged_one_is_lost():
    """A failover drops the acknowledged edit (version 3) and keeps an older one that timed
    out (it expected version 1, so it made version 2): the acknowledged write is lost."""
    entries = [
        write(MAYBE, {"phone": "old"}, expects=1, invoked=1.0, at=11.0),
        write(ACK, {"phone": "new"}, version=3, expects=2, invoked=12.0, at=12.1),
    ]
    observed = {"patient/1": seen(version=2, phone="old")}
    assert outcomes(entries, observed) == [Outcome.recovered, Outcome.lost]
    # The same without the version read back: the If-Match still orders them.
    observed = {"patient/1": seen(phone="old")}
    assert outcomes(entries, observed) == [Outcome.recovered, Outcome.lost]


def test_without_versions_a_write_invoked_earlier_cannot_follow():
    entries = [
        write(MAYBE, {"phone": "old"}, invoked=1.0, at=11.0),
        write(ACK, {"phone": "new"}, invoked=12.0, at=12.1),
    ]
    assert outcomes(entries, {"patient/1": seen(phone="old")}) == [
        Outcome.recovered,
        Outcome.lost,
    ]


def test_a_follower_must_also_have_bumped_the_version():
    """A write expecting the acknowledged version can land over it, but then the version
    read back is newer; the same version with its value means the acknowledged one is gone."""
    entries = [
        write(ACK, {"phone": "new"}, version=3, expects=2, invoked=1.0),
        write(MAYBE, {"phone": "later"}, expects=3, invoked=2.0),
    ]
    assert outcomes(entries, {"patient/1": seen(version=4, phone="later")}) == [
        Outcome.ok,
        Outcome.recovered,
    ]
    assert outcomes(entries, {"patient/1": seen(version=3, phone="later")}) == [
        Outcome.lost,
        Outcome.recovered,
    ]


def test_an_acknowledged_version_newer_than_the_one_read_is_lost_even_with_its_values():
    entries = [write(ACK, {"phone": "1"}, version=5)]
    assert outcomes(entries, {"patient/1": seen(version=4, phone="1")}) == [Outcome.lost]


def test_a_created_resource_holding_a_value_nobody_attempted_is_unexpected():
    entries = [
        write(MAYBE, {"note": "mine"}, rid=None, key="tok", op="create"),
        write(ACK, {"note": "x"}, rid="7", op="create"),
        write(MAYBE, {"phone": "2"}, rid="8"),  # a pre-existing resource: its value is old
    ]
    observed = {
        resource_key(entries[0]): seen(note="nobody's"),
        "patient/7": seen(note="x"),
        "patient/8": seen(phone="seeded"),
    }
    assert outcomes(entries, observed) == [Outcome.unexpected, Outcome.ok, Outcome.unapplied]


def test_a_refused_write_explains_nothing_and_is_never_charged():
    """Two people check the same patient in: one is refused because the other was first.
    The value is there, but not because of the refused write."""
    entries = [
        write(ACK, {"status": "arrived"}, version=2, invoked=1.0),
        write(FAIL, {"status": "arrived"}, invoked=2.0),
    ]
    assert outcomes(entries, {"patient/1": seen(status="arrived")}) == [
        Outcome.ok,
        Outcome.unapplied,
    ]
    only_refused = [write(FAIL, {"status": "arrived"}, invoked=2.0)]
    assert outcomes(only_refused, {"patient/1": seen(status="arrived")}) == [Outcome.unapplied]
    # An acknowledged value replaced by what only a refused write carried is still lost.
    entries = [
        write(ACK, {"phone": "1"}, version=2, invoked=1.0),
        write(FAIL, {"phone": "2"}, invoked=2.0),
        write(FAIL, {"phone": "3"}, invoked=3.0),
    ]
    assert outcomes(entries, {"patient/1": seen(phone="2")}) == [
        Outcome.lost,
        Outcome.unapplied,
        Outcome.unapplied,
    ]
    assert outcomes(entries, {"patient/1": seen(phone="1")}) == [
        Outcome.ok,
        Outcome.unapplied,
        Outcome.unapplied,
    ]
