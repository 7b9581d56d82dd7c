"""Property-based fuzzing of the whole EHR API from its own OpenAPI document (schemathesis).

The app runs in-process (ASGI, no network) on a seeded SQLite database. Every generated
request is sent as the owner of practice 0 with a fresh session token (so a fuzzed
``logout`` or password change cannot blind the rest of the run), and every response must:
not be a 5xx, use a documented status code and content type, and match the documented
schema and headers. The example count per operation is bounded (``CHARTGUARD_FUZZ_EXAMPLES``,
default 12) to keep the run to about a minute or two.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from ehr_core import Database, Settings, create_app
from ehr_core.models import AuthSession, User
from ehr_core.security import new_token, token_digest
from tests.ehr_core.test_fhir_helpers import World, build_world

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("CHARTGUARD_FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class Tokens:
    """Mints a session for the fuzzing user straight in the database (no argon2 per call)."""

    def __init__(self, settings: Settings, email: str) -> None:
        self.database = Database(settings)
        with self.database.session() as session:
            self.user_id = session.execute(select(User.id).where(User.email == email)).scalar_one()

    def headers(self) -> dict[str, str]:
        token = new_token()
        with self.database.transaction() as session:
            session.add(
                AuthSession(
                    user_id=self.user_id,
                    token_hash=token_digest(token),
                    expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                )
            )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("fuzz")
    return build_world(
        Settings(
            db_url=f"sqlite:///{tmp / 'ehr.db'}",
            region="test-east",
            audit_spool_path=str(tmp / "spool.jsonl"),
            export_dir=str(tmp / "exports"),
        ),
        patients=6,
    )


@pytest.fixture(scope="module")
def fuzz_app(fuzz_world: World) -> Iterator[Any]:
    app = create_app(fuzz_world.settings)
    yield app
    exports = getattr(app.state, "fhir_exports", None)
    if exports is not None:  # exports the fuzzer started run in threads: let them finish
        assert exports.runner.join(timeout=60)
    app.state.db.dispose()


@pytest.fixture(scope="module")
def fuzz_tokens(fuzz_world: World) -> Iterator[Tokens]:
    tokens = Tokens(fuzz_world.settings, "owner@practice-0000.test")
    yield tokens
    tokens.database.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_app)


# Server-sent events never end: a stream is not a request/response to fuzz.
SKIP_PATHS = ("/api/v1/notice/events",)


def _fuzz(operation: Any, mode: GenerationMode, tokens: Tokens) -> str | None:
    """Run one operation's examples; the failure report, or None when all passed."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=tokens.headers(), checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # e.g. no way to make a request without parameters invalid
        return None
    except (
        Exception,
        BaseExceptionGroup,
    ) as e:  # collect every operation's failure, then fail once with all
        return f"{operation.label} [{mode.value}]: {type(e).__name__}: {e}"[:4000]
    return None


def test_api_fuzz(api_schema: Any, fuzz_tokens: Tokens) -> None:
    failures = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP_PATHS:
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _fuzz(operation, mode, fuzz_tokens)
            if failure is not None:
                failures.append(failure)
    assert operations >= 30, "the OpenAPI document lost its operations"
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
