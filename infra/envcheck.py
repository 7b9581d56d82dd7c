"""One sentence for a bad ``CHARTGUARD_*`` environment variable (every CLI's settings)."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["describe_settings_error"]


def describe_settings_error(error: ValidationError, *, prefix: str = "CHARTGUARD_") -> str:
    """``bad setting: CHARTGUARD_X: <why>; ...`` naming each variable, never its value
    (one may be a password)."""
    problems = []
    for err in error.errors():
        field = str(err["loc"][0]) if err.get("loc") else "settings"
        name = field if field.startswith("CHARTGUARD_") else f"{prefix}{field.upper()}"
        problems.append(f"{name}: {err['msg']}")
    return "bad setting: " + "; ".join(problems)
