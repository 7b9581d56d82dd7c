"""The run report: verdict first, readable charts, gate table, JUnit XML that CI understands."""

from __future__ import annotations

import base64
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runbooks.record import GateRow, RunRecord, Series, Window
from runbooks.report import write_report

pytestmark = pytest.mark.unit


def _record(verdict: str = "fail") -> RunRecord:
    t0 = 1_800_000_000.0
    times = [t0 + i for i in range(0, 120, 5)]
    return RunRecord(
        title="rehearsal east->west",
        verdict=verdict,
        reason="gate 'availability' failed: 99.2% < 99.9%"
        if verdict == "fail"
        else "all gates held",
        started=t0,
        ended=t0 + 120,
        charts={
            "request rate (req/s)": [Series("router", times, [50.0 + (i % 7) for i in range(24)])],
            "p99 latency (s)": [
                Series("p99", times, [0.1] * 10 + [math.nan] * 2 + [0.4] * 12),
                Series("p50", times, [0.02] * 24),
            ],
            "replication lag (s)": [],
        },
        windows=[
            Window(t0 + 20, t0 + 80, "bgp-brownout"),
            Window(t0 + 60, t0 + 64, "cutover", "step"),
        ],
        gate=[
            GateRow("availability", "fail", "99.2%", ">= 99.9%", "5xx burst during cutover"),
            GateRow("latency p99", "pass", "0.41 s", "<= 0.5 s"),
            GateRow("client view", "not_evaluated", "no data", "-"),
        ],
        ledger={"acknowledged": 1200, "lost": 0, "corrupted": 0, "recovered": 3},
        timings={"rto": 2.4, "rpo": 0.0, "notice_latency": None},
        versions={"chartguard": "0.1.0", "postgresql": "15.18"},
        config={"stack": "local", "replication": "sync"},
    )


def test_report_files_verdict_first_and_charts_inline(tmp_path: Path) -> None:
    files = write_report(_record(), tmp_path)
    page = files.html.read_text()
    assert page.index("FAIL") < page.index("<h2>")  # the verdict comes before anything else
    assert "gate &#x27;availability&#x27; failed" in page
    pngs = page.count("src='data:image/png;base64,")
    assert pngs == 3
    first = page.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(first).startswith(b"\x89PNG")
    assert "not measured" in page  # a missing timing is said, not shown as 0
    assert "http://" not in page and "https://" not in page  # self-contained
    assert RunRecord.from_json(files.json.read_text()).to_json() == _record().to_json()


def test_junit_names_the_failed_gate(tmp_path: Path) -> None:
    files = write_report(_record(), tmp_path)
    suite = ET.parse(files.junit).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("errors") == "1"
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert failed == ["availability"]


def test_passing_report(tmp_path: Path) -> None:
    page = write_report(_record("pass"), tmp_path, name="ok").html.read_text()
    assert "PASS: rehearsal" in page


def test_what_the_practices_saw_is_shown_beside_the_gate(tmp_path: Path) -> None:
    record = _record("pass")
    record.client = {"verdict": "fail", "requests": 200, "failures": 0,
                     "checks": [{"name": "read.p99_ms", "ok": False, "observed": 3000.0,
                                 "limit": 500.0}]}
    page = write_report(record, tmp_path).html.read_text()
    section = page[page.index("What the practices saw"):]
    assert "read.p99_ms" in section and "<td class='fail'>fail</td>" in section
    assert page.index("<h2>Gate</h2>") < page.index("What the practices saw")
    assert "What the practices saw" not in write_report(_record("pass"), tmp_path / "b").html \
        .read_text()
