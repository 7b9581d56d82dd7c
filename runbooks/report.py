"""The run report: one self-contained HTML file (charts inline), plus JSON and JUnit XML.

The verdict comes first, in words a release manager can act on; then the charts over
time with fault windows and migration steps shaded, the gate table, the ledger, the
recovery timings and the exact versions and configuration of the run.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from runbooks.record import RunRecord, Series, Window

WINDOW_COLOURS = {"fault": "#d62728", "step": "#1f77b4"}
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2330; max-width: 1000px }
table { border-collapse: collapse; margin: 8px 0 16px }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left }
.pass { color: #1a7f37 } .fail, .error { color: #b42318 } .not_evaluated { color: #8a6d00 }
img { max-width: 100%; display: block; margin: 6px 0 }
.legend span { display: inline-block; padding: 0 8px; margin-right: 8px }
"""


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path
    junit: Path


def _ts(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_chart(title: str, lines: list[Series], windows: list[Window], start: float) -> str:
    """One chart as a base64 PNG; x is seconds since the run started."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 2.6), dpi=100)
    try:
        for w in windows:
            ax.axvspan(
                w.start - start,
                w.end - start,
                color=WINDOW_COLOURS.get(w.kind, "#888"),
                alpha=0.12 if w.kind == "fault" else 0.08,
                linewidth=0,
            )
        for s in lines:
            ax.plot([t - start for t in s.times], s.values, label=s.label, linewidth=1.4)
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel("seconds since start", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(fontsize=7, loc="upper right", frameon=False)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    return f"{value:.2f} {unit}"


def render_html(record: RunRecord) -> str:
    e = html.escape
    verdict_colour = "#1a7f37" if record.passed else "#b42318"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(record.title)}: {e(record.verdict.upper())}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1 style='color:{verdict_colour}'>{e(record.verdict.upper())}: {e(record.title)}</h1>",
        f"<p><strong>{e(record.reason)}</strong></p>",
        f"<p>{_ts(record.started)} to {_ts(record.ended)} "
        f"({record.ended - record.started:.0f} s)</p>",
        "<h2>Recovery and notices</h2><table>",
    ]
    units = {"rto": "s", "rpo": "s", "notice_latency": "s"}
    for key, value in record.timings.items():
        parts.append(f"<tr><th>{e(key)}</th><td>{e(_fmt(value, units.get(key, 's')))}</td></tr>")
    parts.append("</table><h2>Write ledger</h2><table>")
    for key, value in record.ledger.items():
        cls = "fail" if key in ("lost", "corrupted") and value else ""
        parts.append(f"<tr><th>{e(key)}</th><td class='{cls}'>{value}</td></tr>")
    parts.append(
        "</table><h2>Gate</h2><table><tr><th>check</th><th>status</th><th>value</th>"
        "<th>threshold</th><th>detail</th></tr>"
    )
    for row in record.gate:
        parts.append(
            f"<tr><td>{e(row.check)}</td><td class='{e(row.status)}'>{e(row.status)}</td>"
            f"<td>{e(row.value)}</td><td>{e(row.threshold)}</td><td>{e(row.detail)}</td></tr>"
        )
    parts.append("</table>")
    parts.extend(_client_section(record))
    parts.append(
        "<h2>Over time</h2><p class='legend'>"
        "<span style='background:#f7d4d4'>fault window</span>"
        "<span style='background:#dce7f3'>migration step</span></p>"
    )
    for title, lines in record.charts.items():
        png = render_chart(title, lines, record.windows, record.started)
        parts.append(f"<img alt='{e(title)}' src='data:image/png;base64,{png}'>")
    if record.windows:
        parts.append("<table><tr><th>window</th><th>kind</th><th>from (s)</th><th>to (s)</th></tr>")
        for w in record.windows:
            parts.append(
                f"<tr><td>{e(w.label)}</td><td>{e(w.kind)}</td>"
                f"<td>{w.start - record.started:.1f}</td><td>{w.end - record.started:.1f}</td></tr>"
            )
        parts.append("</table>")
    if record.steps:
        parts.append(
            "<h2>Steps</h2><table><tr><th>step</th><th>status</th><th>seconds</th>"
            "<th>message</th></tr>"
        )
        for s in record.steps:
            secs = s.get("seconds")
            parts.append(
                f"<tr><td>{e(str(s.get('name')))}</td><td>{e(str(s.get('status')))}</td>"
                f"<td>{'' if secs is None else f'{secs:.1f}'}</td>"
                f"<td>{e(str(s.get('message', '')))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Versions and configuration</h2><table>")
    for key, value in {
        **record.versions,
        **{f"config.{k}": v for k, v in record.config.items()},
    }.items():
        parts.append(f"<tr><th>{e(key)}</th><td>{e(str(value))}</td></tr>")
    parts.append("</table></body></html>")
    return "".join(parts)


def _client_section(record: RunRecord) -> list[str]:
    """The practices' view: the load generator's checks, beside (not part of) the gate."""
    client = record.client
    if not client:
        return []
    e = html.escape
    parts = [
        "<h2>What the practices saw</h2>",
        f"<p>{client.get('requests')} requests, {client.get('failures')} failed, as the load "
        "generator measured them through the router (network time on a browned-out path "
        "included). The SLOs above are measured at the service; these are the load "
        f"profile's own thresholds: <strong>{e(str(client.get('verdict')))}</strong>.</p>",
        "<table><tr><th>check</th><th>status</th><th>observed</th><th>limit</th></tr>",
    ]
    for check in client.get("checks", []):
        status = "pass" if check.get("ok") else "fail"
        parts.append(
            f"<tr><td>{e(str(check.get('name')))}</td><td class='{status}'>{status}</td>"
            f"<td>{e(str(check.get('observed')))}</td><td>{e(str(check.get('limit')))}</td></tr>"
        )
    parts.append("</table>")
    return parts


def render_junit(record: RunRecord) -> str:
    """JUnit XML: one test case per gate check, so CI systems show which gate failed."""
    suite = ET.Element(
        "testsuite",
        name=record.title,
        tests=str(len(record.gate)),
        failures=str(sum(1 for g in record.gate if g.status == "fail")),
        errors=str(sum(1 for g in record.gate if g.status in ("error", "not_evaluated"))),
        time=f"{record.ended - record.started:.1f}",
    )
    for row in record.gate:
        case = ET.SubElement(suite, "testcase", classname="chartguard.gate", name=row.check)
        message = f"{row.value} (threshold {row.threshold}) {row.detail}".strip()
        if row.status == "fail":
            ET.SubElement(case, "failure", message=message)
        elif row.status in ("error", "not_evaluated"):
            ET.SubElement(case, "error", message=message)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def write_report(record: RunRecord, out_dir: Path, *, name: str = "report") -> ReportFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out_dir / f"{name}.html", out_dir / f"{name}.json", out_dir / f"{name}.xml")
    files.html.write_text(render_html(record), encoding="utf-8")
    record.write(files.json)
    files.junit.write_text(render_junit(record), encoding="utf-8")
    return files
