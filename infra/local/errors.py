"""The local target's exceptions: one shallow tree, every message names what is wrong."""

from __future__ import annotations

__all__ = ["LocalTargetError", "InvalidSpecError", "PortInUseError", "StartError", "CommandError"]


class LocalTargetError(Exception):
    """Base class of every error raised by ``infra.local``."""


class InvalidSpecError(LocalTargetError, ValueError):
    """A resource was described with bad input (nothing was started or changed)."""


class PortInUseError(LocalTargetError):
    """An address a resource must listen on is already bound by another process."""


class StartError(LocalTargetError):
    """A process did not start or did not become ready in time."""


class CommandError(LocalTargetError):
    """A helper command (initdb, pg_basebackup, ...) or an admin API call failed."""
