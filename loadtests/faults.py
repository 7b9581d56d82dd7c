"""Fault windows from a chaos journal, to mark them in a load run's summary.

Reads the chaos journal JSON (``kind: chartguard.chaos.journal``): each action has
``action``, ``targets`` and wall-clock ``started``/``ended`` stamps (``{"iso", "epoch"}``,
or a bare epoch/ISO value). A fault-applying action (``add_toxic``, ``disable_link``,
``stop_process``) opens a window for its targets; the matching undo (``remove_toxic``,
``enable_link``, ``start_process``) closes it; anything still open closes when the
journal's rollback (or the journal itself) ended. Only the file is shared with ``chaos``:
this package does not import it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests.errors import LoadtestError

__all__ = ["FaultWindow", "read_fault_windows"]

_OPENS = {"add_toxic": "toxic", "disable_link": "link", "stop_process": "process"}
_CLOSES = {"remove_toxic": "toxic", "enable_link": "link", "start_process": "process"}


@dataclass(frozen=True)
class FaultWindow:
    """A fault that was in place from ``start`` to ``end`` (epoch seconds)."""

    name: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "start_epoch": self.start, "end_epoch": self.end}


def _epoch(stamp: Any) -> float | None:
    if stamp is None:
        return None
    if isinstance(stamp, Mapping):
        if stamp.get("epoch") is not None:
            return float(stamp["epoch"])
        stamp = stamp.get("iso")
        if stamp is None:
            return None
    if isinstance(stamp, int | float):
        return float(stamp)
    text = str(stamp)
    try:
        return float(text)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def read_fault_windows(path: str | Path) -> list[FaultWindow]:
    """Fault windows of a chaos journal file; a bad file raises :class:`LoadtestError`."""
    path = Path(path)
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        return _windows(journal)
    except OSError as e:
        raise LoadtestError(f"cannot read fault journal {path}: {e.strerror}") from e
    except (ValueError, TypeError, KeyError) as e:
        raise LoadtestError(f"fault journal {path} is malformed: {e}") from e


def _windows(journal: Mapping[str, Any]) -> list[FaultWindow]:
    actions = list(journal.get("actions") or [])
    rollback = journal.get("rollback") or {}
    fallback_end = _epoch(rollback.get("ended")) or _epoch(journal.get("ended"))
    open_windows: dict[tuple[str, str], tuple[str, float]] = {}
    windows: list[FaultWindow] = []
    for action in actions:
        kind = str(action["action"])
        targets = [str(t) for t in action.get("targets") or ["*"]]
        started = _epoch(action.get("started"))
        ended = _epoch(action.get("ended")) or started
        if started is None:
            continue
        if kind in _OPENS:
            for target in targets:
                open_windows[(_OPENS[kind], target)] = (f"{kind}:{target}", started)
        elif kind in _CLOSES:
            for target in targets:
                opened = open_windows.pop((_CLOSES[kind], target), None)
                if opened is not None:
                    windows.append(FaultWindow(opened[0], opened[1], ended or started))
        else:
            windows.append(FaultWindow(f"{kind}:{','.join(targets)}", started, ended or started))
    for name, start in open_windows.values():
        windows.append(FaultWindow(name, start, max(start, fallback_end or start)))
    return sorted(windows, key=lambda w: (w.start, w.name))
