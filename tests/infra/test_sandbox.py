"""Private copies of the project for tests and benchmarks."""

import socket

import pytest
import yaml

from infra.errors import TopologyError
from infra.sandbox import free_port_offset, private_project
from infra.settings import REPO_ROOT

pytestmark = pytest.mark.unit


def test_private_project_moves_ports_keeps_the_salt_and_cleans_up():
    with private_project(port_offset=1234) as settings:
        stack_file = yaml.safe_load((settings.project_dir / "Pulumi.local.yaml").read_text())
        original = yaml.safe_load((REPO_ROOT / "Pulumi.local.yaml").read_text())
        assert stack_file["config"]["chartguard:portOffset"] == "1234"
        assert stack_file["encryptionsalt"] == original["encryptionsalt"]
        assert (settings.project_dir / "infra").resolve() == REPO_ROOT / "infra"
        assert settings.state_dir.is_dir() and settings.state_dir != REPO_ROOT / ".state"
        root = settings.project_dir.parent
    assert not root.exists()
    with pytest.raises(TopologyError, match="portOffset"), private_project(port_offset=0):
        pass


def test_free_port_offset_skips_offsets_whose_ports_are_taken():
    taken, other = 1777, 2277
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 8090 + taken))  # the status service's port at ``taken``
        except OSError:
            pytest.skip("someone else listens there already")
        busy.listen()
        with pytest.raises(TopologyError, match="no free port offset"):
            free_port_offset([taken])
        try:
            assert free_port_offset([taken, other]) == other
        except TopologyError:
            pytest.skip("another stack uses the alternative offset right now")
