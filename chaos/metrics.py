"""``chartguard_chaos_fault_active{scenario,link,toxic}``: 1 while a fault is applied.

The registry is injected (a fresh one by default, so runs in one process never collide);
it can be served on loopback during a run and/or written as a node-exporter textfile.
"""

from __future__ import annotations

from pathlib import Path
from threading import Thread
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server, write_to_textfile

from chaos.safety import require_loopback_address

__all__ = ["FaultGauge"]


class FaultGauge:
    """The active-fault gauge; ``textfile`` is rewritten after every change when set."""

    def __init__(
        self, *, registry: CollectorRegistry | None = None, textfile: Path | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.textfile = textfile
        self._gauge = Gauge(
            "chartguard_chaos_fault_active",
            "1 while a chaos fault is applied to a link (toxic name, 'disabled') or process",
            ["scenario", "link", "toxic"],
            registry=self.registry,
        )
        self._server: Any = None
        self._thread: Thread | None = None

    def set(self, *, scenario: str, link: str, toxic: str, active: bool) -> None:
        self._gauge.labels(scenario=scenario, link=link, toxic=toxic).set(1 if active else 0)
        if self.textfile is not None:
            self.textfile.parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(self.textfile), self.registry)

    def value(self, *, scenario: str, link: str, toxic: str) -> float | None:
        return self.registry.get_sample_value(
            "chartguard_chaos_fault_active", {"scenario": scenario, "link": link, "toxic": toxic}
        )

    def serve(self, port: int, *, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on loopback; returns the bound port (``port=0`` picks one)."""
        require_loopback_address(f"{addr}:{port}", what="--metrics-port address")
        self._server, self._thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
