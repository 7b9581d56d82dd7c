"""Write one practice's downtime copy: a self-contained viewer page with its sealed data."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from runbooks.snapshot.bundle import Envelope, encrypt
from runbooks.snapshot.collect import PracticeData


@dataclass(frozen=True)
class SnapshotResult:
    practice: str
    page: Path
    appointments: int
    patients: int
    bytes: int


def _viewer_template() -> str:
    return resources.files("runbooks.snapshot").joinpath("viewer.html").read_text("utf-8")


def render_viewer(envelope: Envelope) -> str:
    """The viewer page with the envelope inlined (no other file is needed to open it)."""
    bundle = envelope.to_json().replace("</", "<\\/")  # cannot close the script element
    return (
        _viewer_template()
        .replace("__PRACTICE__", html.escape(envelope.practice))
        .replace("__CREATED__", html.escape(envelope.created))
        .replace("__BUNDLE__", bundle)
    )


def write_snapshot(
    data: PracticeData, *, out_dir: Path, passphrase: str, iterations: int | None = None
) -> SnapshotResult:
    """Seal ``data`` with the owner's passphrase and write ``<out_dir>/<slug>.html``.

    The page is written to a temporary name and renamed, so a reader never sees half
    a page; it holds no plaintext patient data.
    """
    kwargs = {} if iterations is None else {"iterations": iterations}
    envelope = encrypt(
        data.payload(),
        passphrase=passphrase,
        practice=data.practice,
        created=data.created,
        **kwargs,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / f"{data.practice}.html"
    tmp = page.with_suffix(".html.tmp")
    tmp.write_text(render_viewer(envelope), encoding="utf-8")
    os.replace(tmp, page)
    return SnapshotResult(
        practice=data.practice,
        page=page,
        appointments=sum(len(d["appointments"]) for d in data.days),
        patients=len(data.patients),
        bytes=page.stat().st_size,
    )
