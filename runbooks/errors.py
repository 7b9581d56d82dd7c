"""The runbooks' exception tree: one base, a few kinds an operator acts on differently."""

from __future__ import annotations


class RunbookError(Exception):
    """Base of every error raised by a runbook."""


class PrecheckFailed(RunbookError):
    """A condition required before a step did not hold; nothing was changed."""


class BadSetting(PrecheckFailed):
    """A ``CHARTGUARD_*`` variable is invalid (named, never its value); nothing ran."""


class GateFailed(RunbookError):
    """A gate after a step failed; the runbook rolls back to the last good state."""

    def __init__(self, gate: str, reason: str) -> None:
        super().__init__(f"gate {gate!r} failed: {reason}")
        self.gate = gate
        self.reason = reason


class CloudError(RunbookError):
    """A cloud API call failed (wraps the provider's error)."""
