import signal
import sys
import time

import pytest

from infra.local.errors import InvalidSpecError, PortInUseError, StartError
from infra.local.process import (
    ProcessHandle,
    ensure_loopback,
    ensure_port_free,
    is_running,
    spawn,
    stop,
    wait_for_port,
)

pytestmark = pytest.mark.unit  # tiny real processes (sleep, sh), each well under a second


def test_spawn_logs_and_stop_ends_the_whole_group(workdir, reaper):
    log = workdir / "logs" / "sleeper.log"
    # The shell forks a child in the same process group: stop() must end both.
    script = "echo started; sleep 60 & wait"
    handle = reaper.track(spawn(["/bin/sh", "-c", script], log_path=log))
    assert is_running(handle)
    deadline = time.monotonic() + 5
    while "started" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "started" in log.read_text()
    stop(handle, sig=signal.SIGTERM, timeout=2)
    assert not is_running(handle)
    stop(handle)  # idempotent


def test_pid_reuse_is_not_mistaken_for_our_process(workdir, reaper):
    handle = reaper.track(spawn(["sleep", "30"], log_path=workdir / "s.log"))
    impostor = ProcessHandle(pid=handle.pid, start_time=handle.start_time + 1)
    assert is_running(handle)
    assert not is_running(impostor)


def test_exited_process_is_not_running(workdir, reaper):
    handle = reaper.track(spawn(["true"], log_path=workdir / "t.log"))
    deadline = time.monotonic() + 5
    while is_running(handle) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(handle)


def test_wait_for_port_reports_an_exiting_process_with_its_log(workdir, reaper, free_port):
    log = workdir / "f.log"
    handle = reaper.track(spawn(["/bin/sh", "-c", "echo boom-reason; exit 3"], log_path=log))
    with pytest.raises(StartError, match="boom-reason"):
        wait_for_port("127.0.0.1", free_port("127.0.0.1"), what="x", timeout=5,
                      handle=handle, log_path=log)


@pytest.mark.integration
def test_port_in_use_is_refused(workdir, reaper, free_port):
    port = free_port("127.0.0.1")
    handle = reaper.track(spawn(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        log_path=workdir / "h.log",
    ))
    wait_for_port("127.0.0.1", port, what="http.server", timeout=10, handle=handle)
    with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}"):
        ensure_port_free("127.0.0.1", port, what="test")


@pytest.mark.parametrize("host", ["10.0.0.1", "0.0.0.0", "example.org", "::1"])
def test_non_loopback_addresses_are_refused(host):
    with pytest.raises(InvalidSpecError):
        ensure_loopback(host, what="upstream")


def test_servers_do_not_inherit_pulumi_secrets(workdir, reaper, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "engine-secret")
    log = workdir / "env.log"
    handle = reaper.track(spawn(["/bin/sh", "-c", "env"], log_path=log,
                                env={"CHARTGUARD_REGION": "east"}))
    deadline = time.monotonic() + 5
    while is_running(handle) and time.monotonic() < deadline:
        time.sleep(0.05)
    text = log.read_text()
    assert "CHARTGUARD_REGION=east" in text and "engine-secret" not in text
