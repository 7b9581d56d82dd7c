"""The Go-built toolchain: binaries run and report the pinned versions; rebuilds are no-ops."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".tools" / "bin"


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (ROOT / "scripts" / "versions.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            out[name.strip()] = value.strip().strip('"')
    return out


def _run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    return done.stdout + done.stderr


def _require(name: str) -> Path:
    path = BIN / name
    if not path.is_file():
        pytest.fail(f"{path} missing: run bash scripts/bootstrap.sh tools")
    return path


def test_toxiproxy_reports_the_pinned_version() -> None:
    version = _versions()["TOXIPROXY_VERSION"]
    assert f"version {version}" in _run(_require("toxiproxy-server"), "-version")
    assert f"version {version}" in _run(_require("toxiproxy-cli"), "--version")


def test_pulumi_cli_reports_the_pinned_version(tmp_path: Path) -> None:
    env = {**os.environ, "PULUMI_HOME": str(tmp_path), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    assert _run(_require("pulumi"), "version", env=env).strip() == _versions()["PULUMI_VERSION"]


def test_python_language_host_and_launchers_are_installed() -> None:
    host = _require("pulumi-language-python")
    assert os.access(host, os.X_OK)
    for script in ("pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        installed = _require(script)
        assert os.access(installed, os.X_OK)
        assert installed.read_bytes() == (ROOT / "infra" / "toolchain" / script).read_bytes()


def test_second_build_is_a_no_op() -> None:
    binaries = sorted(p for p in BIN.iterdir() if p.is_file())
    before = {p.name: p.stat().st_mtime_ns for p in binaries}
    log = _run("bash", ROOT / "infra" / "toolchain" / "build.sh")
    assert "building" not in log
    assert log.count("up to date") == 3
    assert {p.name: p.stat().st_mtime_ns for p in binaries} == before
