"""Chaos benchmark: how fast faults go on and, above all, how fast they come off.

``main()`` starts a throwaway ``toxiproxy-server`` on loopback with the local stack's six
links (``edge-*``, ``db-*``, ``repl-west`` ... all pointing at a loopback HTTP server), then:

* ``apply_rollback``: runs a scenario adding three toxics to both edge links and cutting
  two links (8 faults), and reports how long the runner's rollback of all of them took;
* ``sigterm_to_clean``: starts ``chartguard chaos run`` as a process, waits until its faults
  are on the server, sends SIGTERM and times until the server has no toxic and every proxy
  is enabled again;
* ``sigkill_rollback``: the same with SIGKILL, then times ``chartguard chaos rollback``.

Results (seconds; median and max over ``CHARTGUARD_BENCH_REPEAT`` runs, default 5) go to
``bench/results/chaos.json``. Every process started here is stopped in a ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from chaos.adapter import ToxiproxyAdapter
from chaos.rollback import roll_back_record
from chaos.runner import Runner
from chaos.scenario import parse_scenario

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "chaos.json"
SERVER = ROOT / ".tools" / "bin" / "toxiproxy-server"
LINKS = ("edge-east", "edge-west", "db-east", "db-west", "repl-west", "repl-third")


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _stack() -> Iterator[tuple[ToxiproxyAdapter, str]]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    port = _free_port()
    proc = subprocess.Popen(
        [str(SERVER), "-host", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        adapter = ToxiproxyAdapter(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 10
        while True:
            try:
                adapter.version()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        upstream = f"127.0.0.1:{http.server_address[1]}"
        for name in LINKS:
            adapter.create_proxy(name=name, listen="127.0.0.1:0", upstream=upstream)
        yield adapter, f"http://{adapter.proxies()['edge-east'].listen}/"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        http.shutdown()
        http.server_close()


def _scenario(url: str, duration: float) -> dict[str, Any]:
    toxics = [
        ("lat", "latency", {"latency": 50, "jitter": 10}),
        ("loss", "packet_loss", {"probability": 0.1}),
        ("rst", "reset_peer", {"timeout": 5000}),
    ]
    method: list[dict[str, Any]] = [
        {
            "at": 0,
            "action": "add_toxic",
            "links": "edge-*",
            "toxic": {"name": n, "type": t, "toxicity": 0.33, "attributes": a},
        }
        for n, t, a in toxics
    ]
    method += [{"at": 0, "action": "disable_link", "links": "repl-*"}]
    return {
        "title": "bench",
        "description": "eight faults",
        "models": "a brownout",
        "duration": duration,
        "hypothesis": {
            "title": "up",
            "interval_s": 60,
            "probes": [{"name": "edge", "type": "http", "url": url, "when": ["before"]}],
        },
        "method": method,
    }


def _clean(adapter: ToxiproxyAdapter) -> bool:
    return all(p.enabled and not p.toxics for p in adapter.proxies().values())


def _faulted(adapter: ToxiproxyAdapter) -> bool:
    proxies = adapter.proxies()
    return len(proxies["edge-west"].toxics) == 3 and not proxies["repl-third"].enabled


def _stats(values: list[float]) -> dict[str, float]:
    return {"median_s": round(statistics.median(values), 4), "max_s": round(max(values), 4)}


def _cli(work: Path, adapter: ToxiproxyAdapter, url: str) -> subprocess.Popen[bytes]:
    scenario = work / "bench.yaml"
    scenario.write_text(yaml.safe_dump(_scenario(url, 60)))
    return subprocess.Popen(
        [sys.executable, "-m", "runbooks.cli", "chaos", "run", str(scenario), "--toxiproxy",
         adapter.url, "--record", str(work / "record.json"), "--journal",
         str(work / "journal.json"), "--no-progress"],
        cwd=ROOT,
        env={**os.environ, "CHARTGUARD_STATE_DIR": str(work / "state")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def _wait(predicate: Any, timeout: float = 30) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.01)
    return time.monotonic() - started


def main() -> dict[str, Any]:
    """Run the benchmark and write ``bench/results/chaos.json``; return what it wrote."""
    repeat = int(os.environ.get("CHARTGUARD_BENCH_REPEAT", "5"))
    rollback_s: list[float] = []
    sigterm_s: list[float] = []
    sigkill_s: list[float] = []
    with _stack() as (adapter, url), tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenario = parse_scenario(_scenario(url, 0.2), name="bench")
        for i in range(repeat):
            runner = Runner(scenario, adapter=adapter, record_path=work / f"r{i}.json")
            with runner:
                result = runner.run()
            assert result.rollback is not None and result.rollback.ok and _clean(adapter)
            started = float(result.rollback.started["epoch"])
            ended = float(result.rollback.ended["epoch"])  # type: ignore[index]
            rollback_s.append(ended - started)
        for signum, timings in ((signal.SIGTERM, sigterm_s), (signal.SIGKILL, sigkill_s)):
            for _ in range(max(1, repeat // 2)):
                (work / "record.json").unlink(missing_ok=True)
                proc = _cli(work, adapter, url)
                try:
                    _wait(lambda: _faulted(adapter))
                    started = time.monotonic()
                    os.kill(proc.pid, signum)
                    if signum == signal.SIGKILL:
                        proc.wait(timeout=10)
                        roll_back_record(work / "record.json")
                    _wait(lambda: _clean(adapter))
                    timings.append(time.monotonic() - started)
                finally:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait(timeout=10)
    result_doc = {
        "faults": 8,
        "repeat": repeat,
        "apply_rollback": _stats(rollback_s),
        "sigterm_to_clean": _stats(sigterm_s),
        "sigkill_rollback": _stats(sigkill_s),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result_doc, indent=2) + "\n")
    return result_doc


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=2)
