"""The scenario library shipped in ``chaos/scenarios/`` and lookup by name or path."""

from __future__ import annotations

from pathlib import Path

from chaos.errors import ScenarioError
from chaos.scenario import Scenario, load_scenario

__all__ = ["LIBRARY_DIR", "find_scenario", "library_paths"]

LIBRARY_DIR = Path(__file__).resolve().parent / "scenarios"


def library_paths(directory: Path = LIBRARY_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def find_scenario(name_or_path: str, directory: Path = LIBRARY_DIR) -> Scenario:
    """Load a library scenario by name (``bgp-brownout``) or any scenario file by path."""
    candidate = directory / f"{name_or_path}.yaml"
    if "/" not in name_or_path and not name_or_path.endswith((".yaml", ".yml")):
        if not candidate.is_file():
            known = ", ".join(p.stem for p in library_paths(directory))
            raise ScenarioError(name_or_path, [f"no such scenario in the library ({known})"])
        return load_scenario(candidate)
    return load_scenario(Path(name_or_path))
