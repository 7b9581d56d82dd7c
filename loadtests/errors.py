"""The loadtests package's exceptions: one shallow tree, messages that name the problem."""

from __future__ import annotations

__all__ = [
    "LedgerError",
    "LoadtestError",
    "PreflightError",
    "ProfileError",
    "RunError",
    "SettingsError",
    "ShapeError",
    "VerifyError",
]


class LoadtestError(Exception):
    """Base of every error raised by :mod:`loadtests`."""


class ProfileError(LoadtestError):
    """A traffic profile (or a threshold in it) is invalid; ``field`` names the bad field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"profile field {field!r}: {problem}")
        self.field = field
        self.problem = problem


class LedgerError(LoadtestError):
    """The write ledger cannot be written or read."""


class VerifyError(LoadtestError):
    """Reading the ledger back through the API could not even start (bad target, no login)."""


class ShapeError(LoadtestError):
    """An unknown load shape or a bad time scale / duration."""


class RunError(LoadtestError):
    """A load run could not be started or its generator processes failed."""


class PreflightError(RunError):
    """The target cannot take the run: unreachable, or without the profile's practices."""


class SettingsError(LoadtestError):
    """A ``CHARTGUARD_LOAD_*`` (or ``CHARTGUARD_SEED_PASSWORD``) variable is invalid."""
