"""The infra package's exceptions: one shallow tree; every message names what is wrong."""

from __future__ import annotations

__all__ = ["InfraError", "TopologyError", "ToolchainError", "StackError", "PassphraseError"]


class InfraError(Exception):
    """Base class of every error raised by ``infra`` (outside ``infra.local``)."""


class TopologyError(InfraError, ValueError):
    """The topology configuration is invalid; ``field`` names the offending key."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ToolchainError(InfraError):
    """A tool the engine needs (pulumi, its language host, plugins) is missing or broken."""


class PassphraseError(InfraError):
    """The secrets passphrase is missing, or the local default was used for another stack."""


class StackError(InfraError):
    """A Pulumi operation (up, down, preview, refresh) failed; the message says which and why."""

    def __init__(self, message: str, *, stack: str, operation: str) -> None:
        super().__init__(message)
        self.stack = stack
        self.operation = operation
