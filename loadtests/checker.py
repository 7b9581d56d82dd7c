"""Classify a write history against what the EHR holds now, like Jepsen's register checker.

Input: the history's writes (each ``ack``: acknowledged, ``indeterminate``: its fate is
unknown, or ``fail``: cleanly refused) and, per resource, what a read-back observed (its
version, its fields' hashes, or that it is missing, or that it could not be read). The
rule: what is there must be *at least* the last acknowledged write, and anything newer must
come from a write that was invoked and can be ordered after it. Output, per write:

* ``ok``: an acknowledged write whose content is there, or was overwritten by a write that
  can follow it;
* ``lost``: acknowledged, but the resource is missing, its version is older than the one
  the write was acknowledged with, or the field holds a value that cannot follow it (an
  older acknowledged value, or an indeterminate write that could only have come before);
* ``corrupted``: acknowledged, but the field holds a value nobody wrote;
* ``unexpected``: a resource created within the history holds, with no acknowledged write
  to blame, a value that nobody attempted, charged to the newest write of that field (a
  resource that predates the history may still hold its first value: not unexpected);
* ``recovered``: indeterminate, and its content is there;
* ``unapplied``: indeterminate and its content is not there (allowed), or refused (a
  refused write's value may be there for another reason: a status many people set);
* ``unreadable``: the read-back failed, so nothing can be said (never counts as a pass).

``duplicated`` (a create found more than once) is counted by ``verify`` from full listings.

Order: an indeterminate write that carried ``If-Match`` (``expects`` = the version it
requires) can follow an acknowledged write only when it expects that write's version or a
later one, and then the observed version must be newer than the acknowledged one (it would
have bumped it). One without ``expects`` can follow any write invoked before it (by invoke
time). Acknowledged writes are ordered by the version the EHR returned, then by time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from loadtests.ledger import LedgerEntry, WriteStatus

__all__ = ["Observation", "Outcome", "Presence", "check", "resource_key"]


class Outcome(StrEnum):
    ok = "ok"
    lost = "lost"
    corrupted = "corrupted"
    unexpected = "unexpected"
    recovered = "recovered"
    unapplied = "unapplied"
    unreadable = "unreadable"


class Presence(StrEnum):
    present = "present"
    missing = "missing"
    unreadable = "unreadable"


@dataclass(frozen=True)
class Observation:
    """What reading one resource back found: presence, version and each field's hash."""

    presence: Presence
    fields: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None
    version: int | None = None


def resource_key(entry: LedgerEntry) -> str:
    """The resource an entry is about: ``kind/id``, or ``kind/key:<token>`` for an
    indeterminate create whose id was never returned."""
    if entry.id is not None:
        return f"{entry.kind}/{entry.id}"
    return f"{entry.kind}/key:{entry.key}"


def _order(entry: LedgerEntry) -> tuple[int, float, int]:
    return (entry.version or 0, entry.started, entry.seq)


_RANK = {
    Outcome.ok: 0,
    Outcome.recovered: 0,
    Outcome.unapplied: 0,
    Outcome.unreadable: 1,
    Outcome.lost: 2,
    Outcome.unexpected: 3,
    Outcome.corrupted: 3,
}


def _worse(a: Outcome, b: Outcome) -> Outcome:
    return a if _RANK[a] >= _RANK[b] else b


def check(
    entries: Iterable[LedgerEntry], observations: Mapping[str, Observation]
) -> dict[int, Outcome]:
    """Outcome of every entry, keyed by its index in ``entries``.

    ``observations`` maps :func:`resource_key` to what the read-back saw; a resource
    without an observation is unreadable.
    """
    entries = list(entries)
    by_resource: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(entries):
        by_resource[resource_key(entry)].append(index)

    outcomes: dict[int, Outcome] = {}
    for key, indexes in by_resource.items():
        seen = observations.get(key, Observation(Presence.unreadable))
        writes = {i: entries[i] for i in indexes}
        if seen.presence is Presence.present:
            outcomes.update(_Resource(writes, seen).judge())
            continue
        for i, entry in writes.items():
            if seen.presence is Presence.unreadable:
                outcomes[i] = Outcome.unreadable
            elif entry.status is WriteStatus.ack:
                outcomes[i] = Outcome.lost
            else:
                outcomes[i] = Outcome.unapplied
    return outcomes


class _Resource:
    """One resource that is there: its history and what was read."""

    def __init__(self, writes: Mapping[int, LedgerEntry], seen: Observation) -> None:
        self.writes = writes
        self.seen = seen
        first = {
            WriteStatus.ack: Outcome.ok,
            WriteStatus.indeterminate: Outcome.recovered,
            WriteStatus.fail: Outcome.unapplied,
        }
        self.verdict = {i: first[e.status] for i, e in writes.items()}

    def judge(self) -> dict[int, Outcome]:
        self._versions()
        touched: dict[str, list[int]] = defaultdict(list)
        for i, entry in self.writes.items():
            for name in entry.fields:
                touched[name].append(i)
        for name, indexes in touched.items():
            self._field(name, sorted(indexes, key=lambda i: _order(self.writes[i])))
        return self.verdict

    def _charge(self, i: int, outcome: Outcome) -> None:
        self.verdict[i] = _worse(self.verdict[i], outcome)

    def _versions(self) -> None:
        """An acknowledged version newer than the one read back was lost, whatever the
        fields say (a later write may have put the same values back)."""
        if self.seen.version is None:
            return
        for i, entry in self.writes.items():
            if entry.status is WriteStatus.ack and (entry.version or 0) > self.seen.version:
                self._charge(i, Outcome.lost)

    def _may_follow(self, maybe: LedgerEntry, ack: LedgerEntry) -> bool:
        """Can indeterminate ``maybe`` have been applied after acknowledged ``ack``?"""
        if maybe.expects is not None and ack.version is not None:
            newer = self.seen.version is None or self.seen.version > ack.version
            return maybe.expects >= ack.version and newer
        return maybe.started >= ack.started

    def _field(self, name: str, order: list[int]) -> None:
        observed = self.seen.fields.get(name)
        acks = [i for i in order if self.writes[i].status is WriteStatus.ack]
        maybes = [i for i in order if self.writes[i].status is WriteStatus.indeterminate]
        refused = [i for i in order if self.writes[i].status is WriteStatus.fail]
        for i in maybes:
            if self.writes[i].fields[name] != observed:
                self.verdict[i] = Outcome.unapplied
        if not acks:
            created = any(self.writes[i].op == "create" for i in order)
            if created and observed not in {self.writes[i].fields[name] for i in maybes}:
                # Created within the history, so every value it holds was written in it:
                # this one by nobody whose write may have happened.
                self._charge((maybes or order)[-1], Outcome.unexpected)
            return
        last = self.writes[acks[-1]]
        if observed == last.fields[name]:
            return
        followers = [i for i in maybes if self._may_follow(self.writes[i], last)]
        if any(self.writes[i].fields[name] == observed for i in followers):
            return  # a later indeterminate write landed over it: allowed
        # Someone attempted what is there (a refused write too: a status many people set
        # may be there for another reason), so the acknowledged value was lost.
        attempted = {self.writes[i].fields[name] for i in acks[:-1] + maybes + refused}
        self._charge(acks[-1], Outcome.lost if observed in attempted else Outcome.corrupted)
