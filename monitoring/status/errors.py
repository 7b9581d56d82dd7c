"""The status service's exception tree: one base class, a few specific failures.

Messages name the field or object that is wrong and never carry PHI (the status service
never sees patient data; alert labels and SRE messages are operational text).
"""

from __future__ import annotations


class StatusError(Exception):
    """Base class of every error the status service raises on purpose."""


class ConfigError(StatusError):
    """The settings are unusable (placeholder token outside local use, bad region option)."""


class InvalidInput(StatusError):
    """A request or payload is malformed; nothing was changed."""

    def __init__(self, detail: str, *, fields: list[str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or []


class NotFound(StatusError):
    """The named incident, maintenance window, component or subscription does not exist."""


class Conflict(StatusError):
    """The request is valid but contradicts the current state (e.g. completing twice)."""


class SignatureError(StatusError):
    """A webhook signature is missing, malformed, expired or does not match the body."""
