"""The Automation-API driver against a throwaway stack with one dynamic resource (a file).

Real engine, real language host, our dynamic-provider launcher and a file backend in a
temporary folder: up creates the file, a second up changes nothing, refresh notices
the file is gone, down removes it. Nothing outside ``tmp_path`` is touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infra.automation import OperationStatus, ResourceEvent, StackDriver
from infra.errors import PassphraseError, StackError
from infra.settings import REPO_ROOT, InfraSettings

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parent / "fixtures" / "filestack"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(FIXTURE / "__main__.py", project / "__main__.py")
    (project / "Pulumi.yaml").write_text(
        "name: filestack\n"
        f"runtime:\n  name: python\n  options:\n    virtualenv: {REPO_ROOT / '.venv'}\n"
    )
    (project / "Pulumi.t.yaml").write_text(
        f"config:\n  filestack:path: {tmp_path / 'marker.txt'}\n  filestack:content: hello\n"
    )
    return project


def _settings(tmp_path: Path) -> InfraSettings:
    return InfraSettings(
        state_dir=tmp_path / "state",
        pulumi_passphrase="test-only-passphrase",
    )


def test_up_noop_refresh_and_down_through_the_real_engine(tmp_path: Path, project: Path) -> None:
    events: list[ResourceEvent] = []
    driver = StackDriver(
        settings=_settings(tmp_path), stack="t", project_dir=project, on_event=events.append
    )
    marker = tmp_path / "marker.txt"
    try:
        first = driver.up()
        assert first.status is OperationStatus.SUCCEEDED
        assert marker.read_text() == "hello"
        assert first.changes.get("create") == 2  # the stack and the file
        assert first.outputs["content"] == "hello" and first.outputs["secret"] == "s3cret"
        assert first.deployment_path is None  # no topology output: not a chartguard stack
        assert any(e.name == "marker" and e.phase == "done" for e in events)
        assert (tmp_path / "state" / "pulumi" / ".pulumi").is_dir()
        # Secrets are encrypted in the file backend, never stored in clear text.
        state_text = "".join(
            p.read_text() for p in (tmp_path / "state" / "pulumi").rglob("*.json")
        )
        assert "s3cret" not in state_text

        again = driver.up()
        assert not again.changed and again.changes == {"same": 2}

        marker.unlink()
        refreshed = driver.refresh()
        assert refreshed.changes.get("delete") == 1

        assert driver.up().changes.get("create") == 1
        assert marker.exists()
    finally:
        down = driver.down()
    assert down.status is OperationStatus.SUCCEEDED
    assert not marker.exists()


def test_engine_errors_become_stack_errors_naming_the_stack(tmp_path: Path, project: Path) -> None:
    (project / "Pulumi.t.yaml").write_text("config: {}\n")  # the program requires 'path'
    driver = StackDriver(settings=_settings(tmp_path), stack="t", project_dir=project)
    try:
        with pytest.raises(StackError) as info:
            driver.up()
        assert info.value.stack == "t" and info.value.operation == "up"
        assert "filestack:path" in str(info.value)
    finally:
        driver.down()


def test_non_local_stack_without_passphrase_is_refused_before_running(
    tmp_path: Path, project: Path
) -> None:
    driver = StackDriver(
        settings=InfraSettings(state_dir=tmp_path / "state"), stack="t", project_dir=project
    )
    with pytest.raises(PassphraseError, match="'t'"):
        driver.up()
    assert not (tmp_path / "state" / "pulumi").exists()
