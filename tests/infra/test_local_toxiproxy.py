"""Toxiproxy server and links, against the real binary built into .tools/bin."""

import sys

import httpx
import pytest

from infra.local import toxiproxy
from infra.local.errors import InvalidSpecError, PortInUseError
from infra.local.process import port_is_bound, spawn, wait_for_port

pytestmark = pytest.mark.integration


@pytest.fixture
def upstream(workdir, reaper, free_port):
    port = free_port("127.0.0.1")
    handle = reaper.track(spawn(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
         "--directory", str(workdir)],
        log_path=workdir / "upstream.log",
    ))
    wait_for_port("127.0.0.1", port, what="upstream", timeout=10, handle=handle)
    (workdir / "hello.txt").write_text("hello through the link")
    return port


def test_proxy_lifecycle(toxiproxy_server, upstream, free_port):
    spec, admin, _ = toxiproxy_server
    link = toxiproxy.ProxySpec(name="edge-east", listen_host="127.0.0.1",
                               listen_port=free_port("127.0.0.1"),
                               upstream_host="127.0.0.1", upstream_port=upstream)
    created = toxiproxy.create_link(spec.api_url, link)
    assert created.upstream == link.upstream and created.enabled is True
    url = f"http://{link.listen}/hello.txt"
    assert httpx.get(url, timeout=5).text == "hello through the link"

    admin.set_enabled(link.name, False)
    assert not port_is_bound(link.listen_host, link.listen_port)
    admin.set_enabled(link.name, True)
    assert httpx.get(url, timeout=5).status_code == 200

    with pytest.raises(PortInUseError):
        toxiproxy.create_link(spec.api_url, link)
    assert admin.proxy(link.name).listen == link.listen

    metrics = httpx.get(f"{spec.api_url}/metrics", timeout=5).text
    assert "toxiproxy_proxy_sent_bytes_total{" in metrics and 'proxy="edge-east"' in metrics

    admin.delete_proxy(link.name)
    admin.delete_proxy(link.name)  # idempotent
    assert admin.proxy(link.name) is None
    assert not port_is_bound(link.listen_host, link.listen_port)


def test_server_status_lists_proxies(toxiproxy_server, upstream, free_port):
    spec, admin, state = toxiproxy_server
    toxiproxy.create_link(spec.api_url, toxiproxy.ProxySpec(
        name="db-east", listen_host="127.0.0.1", listen_port=free_port("127.0.0.1"),
        upstream_host="127.0.0.1", upstream_port=upstream))
    assert toxiproxy.status(spec, state) == toxiproxy.ToxiproxyStatus(True, True, ("db-east",))


@pytest.mark.unit
@pytest.mark.parametrize("field", ["upstream_host", "listen_host"])
def test_links_off_loopback_are_refused(field):
    fields = {"name": "db-east", "listen_host": "127.0.0.1", "listen_port": 15432,
              "upstream_host": "127.0.1.1", "upstream_port": 5432}
    with pytest.raises(InvalidSpecError, match="outside loopback"):
        toxiproxy.ProxySpec(**{**fields, field: "10.1.2.3"})
