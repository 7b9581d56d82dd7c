"""Classify ledger entries against what the EHR holds now, like Jepsen's set checker.

Input: the ledger's entries and, per resource, what a read-back observed (its fields' hashes,
or that it is missing, or that it could not be read). Output, per entry:

* ``ok``: an acknowledged write whose content is there (or was legitimately overwritten
  by a later write of the same field);
* ``lost``: acknowledged, but the resource is missing, or the field holds an *older*
  acknowledged value (a lost update);
* ``corrupted``: acknowledged (or found), but the field holds a value nobody wrote;
* ``recovered``: indeterminate, and its content is there;
* ``unapplied``: indeterminate, and its content is not there (allowed: it may never have
  happened);
* ``unreadable``: the read-back failed, so nothing can be said (never counts as a pass).

Concurrent writes of one field are ordered by the version the EHR returned, then by time.
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
    recovered = "recovered"
    unapplied = "unapplied"
    unreadable = "unreadable"


class Presence(StrEnum):
    present = "present"
    missing = "missing"
    unreadable = "unreadable"


@dataclass(frozen=True)
class Observation:
    """What reading one resource back found: its presence and the hash of each field."""

    presence: Presence
    fields: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None


def resource_key(entry: LedgerEntry) -> str:
    """The resource an entry is about: ``kind/id``, or ``kind/key:<token>`` for an
    indeterminate create whose id was never returned."""
    if entry.id is not None:
        return f"{entry.kind}/{entry.id}"
    return f"{entry.kind}/key:{entry.key}"


def _order(entry: LedgerEntry) -> tuple[int, float, int]:
    return (entry.version or 0, entry.at, entry.seq)


_RANK = {
    Outcome.ok: 0,
    Outcome.recovered: 0,
    Outcome.unapplied: 0,
    Outcome.unreadable: 1,
    Outcome.lost: 2,
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
        writes = [entries[i] for i in indexes]
        if seen.presence is not Presence.present:
            for i, entry in zip(indexes, writes, strict=True):
                if seen.presence is Presence.unreadable:
                    outcomes[i] = Outcome.unreadable
                elif entry.status is WriteStatus.ack:
                    outcomes[i] = Outcome.lost
                else:
                    outcomes[i] = Outcome.unapplied
            continue
        outcomes.update(_check_present(indexes, writes, seen))
    return outcomes


def _check_present(
    indexes: list[int], writes: list[LedgerEntry], seen: Observation
) -> dict[int, Outcome]:
    position = {id(entry): i for i, entry in zip(indexes, writes, strict=True)}
    verdict: dict[int, Outcome] = {}
    for i, entry in zip(indexes, writes, strict=True):
        verdict[i] = Outcome.ok if entry.status is WriteStatus.ack else Outcome.recovered
    touched: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in writes:
        for name in entry.fields:
            touched[name].append(entry)

    for name, field_writes in touched.items():
        observed = seen.fields.get(name)
        field_writes.sort(key=_order)
        acks = [e for e in field_writes if e.status is WriteStatus.ack]
        maybes = [e for e in field_writes if e.status is WriteStatus.indeterminate]
        for entry in maybes:
            if entry.fields[name] != observed:
                verdict[position[id(entry)]] = Outcome.unapplied
        if not acks:
            continue
        last = acks[-1]
        if observed == last.fields[name]:
            continue
        if any(entry.fields[name] == observed for entry in maybes):
            continue  # a later indeterminate write landed over it: allowed
        outcome = (
            Outcome.lost
            if any(entry.fields[name] == observed for entry in acks[:-1])
            else Outcome.corrupted
        )
        i = position[id(last)]
        verdict[i] = _worse(verdict[i], outcome)
    return verdict
