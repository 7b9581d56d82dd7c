from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.runbooks.local.stack import TOXIPROXY_BIN, PrivateStack, start_private_stack


@pytest.fixture(scope="session")
def private_stack() -> Iterator[PrivateStack]:
    """One private sync stack for these tests (tests leave it healthy, any primary)."""
    if not TOXIPROXY_BIN.exists():
        pytest.skip("toxiproxy-server not built yet (bash scripts/bootstrap.sh tools)")
    stack = start_private_stack()
    try:
        yield stack
    finally:
        stack.close()
