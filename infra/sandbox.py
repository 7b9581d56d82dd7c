"""A private copy of the chartguard project, for stacks that must not touch the real one.

Tests and benchmarks run ``up``/``down`` on a stack beside a developer's ``local`` stack:
:func:`private_project` makes a throwaway folder with its own state, a project whose
program is the repo's ``infra/`` (linked) and a copy of the stack file with
``chartguard:portOffset`` set, so every port moves and the repo's own stack files and
state stay untouched (the engine rewrites the stack files it uses).
"""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from infra.errors import TopologyError
from infra.settings import LOCAL_STACK, REPO_ROOT, InfraSettings
from infra.topology import Topology

__all__ = ["private_project", "free_port_offset"]


def _bound(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _listeners(topology: Topology) -> Iterator[tuple[str, int]]:
    for _, endpoint in topology.services.items():
        yield endpoint.host, endpoint.port
    ports = topology.ports
    for region in topology.regions:
        for port in (ports.ehr, ports.postgres, ports.edge, ports.db, ports.repl):
            yield region.address, port


def free_port_offset(candidates: Iterable[int], *, tries: int = 20) -> int:
    """An offset from ``candidates`` at which no listener of the default topology is bound.

    Other private stacks run on this machine too, and offsets 1000 apart collide (the
    status service's 8090 is Prometheus' 9090 minus 1000), so a fixed offset is not
    safe: this draws at random and checks every address the stack will listen on.
    """
    pool = list(candidates)
    topology = Topology.from_config({})
    for offset in random.sample(pool, min(tries, len(pool))):
        if not any(_bound(h, p) for h, p in _listeners(topology.with_port_offset(offset))):
            return offset
    raise TopologyError("no free port offset found for a private stack", field="portOffset")


@contextmanager
def private_project(
    *, port_offset: int, stack: str = LOCAL_STACK, prefix: str = "cg-stack-"
) -> Iterator[InfraSettings]:
    """Settings for a private copy of ``stack`` with every port moved by ``port_offset``.

    The folder is removed on exit; run ``down`` before leaving. PostgreSQL runs as the
    ``postgres`` user, so the folder is world-searchable (a private temp dir is not).
    """
    if isinstance(port_offset, bool) or not 1 <= port_offset <= 20000:
        raise TopologyError("portOffset: a private copy needs an offset of 1..20000",
                            field="portOffset")
    source = REPO_ROOT / f"Pulumi.{stack}.yaml"
    if not source.is_file():
        raise TopologyError(f"stack {stack!r}: no {source.name} to copy", field="stack")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root.chmod(0o755)
        state, project = root / "state", root / "project"
        state.mkdir(mode=0o755)
        project.mkdir()
        (project / "infra").symlink_to(REPO_ROOT / "infra")
        (project / "Pulumi.yaml").write_text(
            (REPO_ROOT / "Pulumi.yaml").read_text().replace(
                "virtualenv: .venv", f"virtualenv: {REPO_ROOT / '.venv'}"
            )
        )
        stack_file = yaml.safe_load(source.read_text())
        stack_file.setdefault("config", {})["chartguard:portOffset"] = str(port_offset)
        (project / source.name).write_text(yaml.safe_dump(stack_file, sort_keys=False))
        yield InfraSettings(state_dir=state, project_dir=project, stack=stack)
    finally:
        shutil.rmtree(root, ignore_errors=True)
