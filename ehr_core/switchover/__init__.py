"""Planned switchovers: writes are held, not refused, while a standby is promoted.

The runbook :func:`announce`\\ s a switchover on the old primary before it drains and
:func:`clear`\\ s it on the new primary afterwards; the EHR's write guard calls
:func:`wait_until_writable` before refusing a write as read-only.
"""

from __future__ import annotations

from ehr_core.switchover.announcement import (
    MAX_ANNOUNCED_HOLD_SECONDS,
    Announcement,
    announce,
    clear,
)
from ehr_core.switchover.hold import POLL_SECONDS, hold_remaining, wait_until_writable

__all__ = [
    "MAX_ANNOUNCED_HOLD_SECONDS",
    "POLL_SECONDS",
    "Announcement",
    "announce",
    "clear",
    "hold_remaining",
    "wait_until_writable",
]
