"""Every toxic type measurably changes traffic through a real Toxiproxy proxy."""

from __future__ import annotations

import socket
import time

import pytest

from chaos.adapter import ToxiproxyAdapter
from chaos.errors import ToxiproxyError
from chaos.toxics import to_server_toxic
from tests.chaos.conftest import BANNER

pytestmark = pytest.mark.integration


def _proxy(toxiproxy: ToxiproxyAdapter, upstream: str, name: str = "edge-test") -> tuple[str, int]:
    state = toxiproxy.create_proxy(name=name, listen="127.0.0.1:0", upstream=upstream)
    host, _, port = state.listen.rpartition(":")
    return host, int(port)


def _toxic(toxiproxy: ToxiproxyAdapter, type_: str, stream: str = "downstream", **attrs: float):
    toxic = to_server_toxic(
        name=f"t-{type_}", type=type_, stream=stream, toxicity=1.0, attributes=attrs
    )
    toxiproxy.add_toxic("edge-test", toxic)


def _echo_roundtrip(address: tuple[str, int], payload: bytes = b"ping", timeout: float = 3.0):
    """Seconds for one echo round trip and what came back (b'' if closed)."""
    with socket.create_connection(address, timeout=timeout) as s:
        started = time.perf_counter()
        s.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
        return time.perf_counter() - started, received


def _read_all(address: tuple[str, int], timeout: float = 5.0) -> tuple[float, bytes, int]:
    """Seconds until EOF, the bytes read and the number of reads."""
    with socket.create_connection(address, timeout=timeout) as s:
        started = time.perf_counter()
        data, reads = b"", 0
        while chunk := s.recv(65536):
            data += chunk
            reads += 1
        return time.perf_counter() - started, data, reads


def test_latency_adds_at_least_its_latency(toxiproxy, echo_upstream):
    address = _proxy(toxiproxy, echo_upstream)
    baseline, _ = _echo_roundtrip(address)
    _toxic(toxiproxy, "latency", latency=300, jitter=0)
    slowed, echoed = _echo_roundtrip(address)
    assert echoed == b"ping"
    assert slowed >= 0.3 > baseline


def test_bandwidth_caps_throughput(toxiproxy, banner_upstream):
    address = _proxy(toxiproxy, banner_upstream)
    fast, data, _ = _read_all(address)
    assert data == BANNER and fast < 0.5
    _toxic(toxiproxy, "bandwidth", rate=50)  # KB/s
    slow, data, _ = _read_all(address)
    assert data == BANNER
    assert len(BANNER) / slow <= 60_000  # bytes per second, with slack over 50 KB/s
    assert slow >= 0.8


def test_timeout_hangs_then_closes(toxiproxy, echo_upstream):
    address = _proxy(toxiproxy, echo_upstream)
    _toxic(toxiproxy, "timeout", timeout=0)
    with pytest.raises(TimeoutError):
        _echo_roundtrip(address, timeout=0.5)
    toxiproxy.remove_toxic("edge-test", "t-timeout")
    _toxic(toxiproxy, "timeout", timeout=300)
    elapsed, echoed = _echo_roundtrip(address)
    assert echoed == b"" and elapsed >= 0.25  # nothing came back; closed after ~300 ms


def test_reset_peer_resets(toxiproxy, echo_upstream):
    address = _proxy(toxiproxy, echo_upstream)
    _toxic(toxiproxy, "reset_peer", stream="upstream", timeout=0)
    with pytest.raises(ConnectionResetError):
        for _ in range(3):  # the RST may race the first send
            _echo_roundtrip(address)
            time.sleep(0.05)


def test_packet_loss_loses_all_connections_at_probability_one(toxiproxy, echo_upstream):
    address = _proxy(toxiproxy, echo_upstream)
    _toxic(toxiproxy, "packet_loss", probability=1.0, timeout=200)
    elapsed, echoed = _echo_roundtrip(address)
    assert echoed == b"" and elapsed >= 0.15


def test_packet_loss_loses_a_share_of_connections(toxiproxy, echo_upstream):
    address = _proxy(toxiproxy, echo_upstream)
    _toxic(toxiproxy, "packet_loss", probability=0.5, timeout=100)
    lost = sum(_echo_roundtrip(address)[1] == b"" for _ in range(20))
    assert 2 <= lost <= 18  # binomial(20, 0.5): outside this range has p < 1e-4


def test_slicer_slices_and_delays(toxiproxy, echo_upstream):
    address = _proxy(toxiproxy, echo_upstream)
    _toxic(toxiproxy, "slicer", average_size=100, size_variation=0, delay=10_000)  # 10 ms
    payload = b"x" * 2000
    with socket.create_connection(address, timeout=5) as s:
        started = time.perf_counter()
        s.sendall(payload)
        received, reads = b"", 0
        while len(received) < len(payload):
            received += s.recv(65536)
            reads += 1
        elapsed = time.perf_counter() - started
    assert received == payload
    assert reads >= 5 and elapsed >= 0.1  # 20 slices, 10 ms apart


def test_limit_data_closes_after_bytes(toxiproxy, banner_upstream):
    address = _proxy(toxiproxy, banner_upstream)
    _toxic(toxiproxy, "limit_data", bytes=1000)
    _, data, _ = _read_all(address)
    assert data == BANNER[:1000]


def test_slow_close_delays_the_close(toxiproxy, banner_upstream):
    address = _proxy(toxiproxy, banner_upstream)
    fast, _, _ = _read_all(address)
    _toxic(toxiproxy, "slow_close", delay=500)
    slow, data, _ = _read_all(address)
    assert data == BANNER
    assert slow >= 0.45 > fast


def test_disabled_link_refuses_connections_until_enabled(toxiproxy, echo_upstream):
    address = _proxy(toxiproxy, echo_upstream)
    toxiproxy.set_enabled("edge-test", False)
    with pytest.raises(ConnectionRefusedError):
        _echo_roundtrip(address)
    toxiproxy.set_enabled("edge-test", True)
    assert _echo_roundtrip(address)[1] == b"ping"


def test_adapter_reports_version_and_clear_errors(toxiproxy):
    assert toxiproxy.version().startswith("v2.")
    with pytest.raises(ToxiproxyError, match="no proxy 'missing'"):
        toxiproxy.set_enabled("missing", False)
    assert toxiproxy.remove_toxic("missing", "nothing") is False
    unreachable = ToxiproxyAdapter(f"http://127.0.0.1:{_closed_port()}", timeout_s=1)
    with pytest.raises(ToxiproxyError, match="cannot reach toxiproxy"):
        unreachable.proxies()


def test_remove_all_and_enable_all(toxiproxy, echo_upstream):
    _proxy(toxiproxy, echo_upstream)
    _proxy(toxiproxy, echo_upstream, name="edge-other")
    _toxic(toxiproxy, "latency", latency=10)
    toxiproxy.set_enabled("edge-other", False)
    assert toxiproxy.remove_all_toxics() == 1
    assert toxiproxy.enable_all() == 1
    states = toxiproxy.proxies().values()
    assert all(p.enabled and not p.toxics for p in states)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
