"""The chaos package's exceptions: one shallow tree rooted at :class:`ChaosError`."""

from __future__ import annotations

__all__ = [
    "ChaosError",
    "DeploymentError",
    "Interrupted",
    "ProbeError",
    "RecordError",
    "ScenarioError",
    "ToxiproxyError",
    "UnsafeTargetError",
]


class ChaosError(Exception):
    """Base of every error the chaos package raises on purpose."""


class ScenarioError(ChaosError):
    """A scenario file is unreadable or invalid; ``problems`` lists ``field: message`` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class ToxiproxyError(ChaosError):
    """The Toxiproxy API refused a request or could not be reached."""


class UnsafeTargetError(ChaosError):
    """A proxy upstream or probe URL points outside loopback; nothing was changed."""


class DeploymentError(ChaosError):
    """``deployment.json`` is missing, malformed, or lacks a process a scenario needs."""


class ProbeError(ChaosError):
    """A probe could not be evaluated at all (as opposed to a value out of tolerance)."""


class RecordError(ChaosError):
    """The crash-safe record of applied faults cannot be read or written."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived during a run; raised so that rollback runs in ``finally``.

    Like ``KeyboardInterrupt`` it derives from ``BaseException``, outside the ChaosError tree,
    so that no library's ``except Exception`` can swallow it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")
