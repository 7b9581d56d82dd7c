"""Downtime snapshots: per practice, an encrypted offline bundle and a static viewer page."""

from runbooks.snapshot.bundle import Envelope, decrypt, encrypt, new_passphrase
from runbooks.snapshot.collect import PracticeData, collect_practice
from runbooks.snapshot.writer import SnapshotResult, write_snapshot

__all__ = [
    "Envelope",
    "PracticeData",
    "SnapshotResult",
    "collect_practice",
    "decrypt",
    "encrypt",
    "new_passphrase",
    "write_snapshot",
]
